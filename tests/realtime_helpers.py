"""Realtime test helpers: an API on a loopback port, realtime workers, streaming clients.

Everything is real: the API is ``create_app()`` under werkzeug's threaded server (flask-sock
works there as under gunicorn's threads), workers are ``python -m workers.realtime``
processes on the real Redis relay (or, for the in-process tests, ``RealtimeWorker`` threads
on the in-memory relay, as in embedded mode), the model is tiny.en, and the clients are
``simple_websocket`` and the official SDKs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()


class ApiServer:
    """``create_app(config)`` on a loopback port, in a thread."""

    def __init__(self, config: dict[str, str]):
        from dalston.app import create_app

        self.app = create_app(config)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.port = self._server.server_port
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"

    @property
    def relay(self):
        return self.app.extensions["dalston"].relay

    def stop(self):
        self._server.shutdown()


class WorkerProcess:
    """``python -m workers.realtime`` with ``env`` over this process's environment."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.realtime"],
                cwd=REPO,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self):
        self.proc.kill()
        self.proc.wait(30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for_workers(relay, count: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = relay.status()
        if status["worker_count"] >= count:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"{count} realtime workers did not register within {timeout} s")


def connect(url: str, headers: dict | None = None):
    """A ``simple_websocket.Client`` on ``url``, reading the frames that came with the handshake.

    A server that refuses a session answers the upgrade, sends its error and closes at
    once; those frames can arrive in the same read as the handshake's response. The 1.1
    client leaves them in ``wsproto``'s buffer and looks again only after its next read,
    which a closed socket ends with nothing: the error is lost and the close reads 1005
    (no status). This client takes them right after the handshake, as a browser does.
    """
    import simple_websocket

    class Client(simple_websocket.Client):
        def handshake(self):
            super().handshake()
            self._handle_events()  # may record the close (reason, message) …
            self.connected = True  # … its reader thread then finds the socket closed

    return Client.connect(url, headers=headers)


class NativeClient:
    """A ``simple_websocket`` client of the native protocol that records every message."""

    def __init__(self, url: str, headers: dict | None = None):
        self.ws = connect(url, headers)
        self.messages: list = []

    def recv(self, timeout: float = 30.0):
        message = self.ws.receive(timeout=timeout)
        if message is None:
            raise TimeoutError("no message")
        parsed = json.loads(message)
        self.messages.append(parsed)
        return parsed

    def until(self, kind: str, timeout: float = 60.0, key: str = "type") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.recv(timeout=max(deadline - time.monotonic(), 0.1))
            if message.get(key) == kind:
                return message
        raise TimeoutError(f"no {kind} within {timeout} s")

    def drain(self, timeout: float = 0.2) -> list:
        got = []
        while True:
            try:
                got.append(self.recv(timeout))
            except TimeoutError:
                return got

    def stream(self, data: bytes, chunk: int, pace: float = 0.0, binary: bool = True):
        for i in range(0, len(data), chunk):
            self.ws.send(data[i : i + chunk])
            if pace:
                time.sleep(pace)

    def close(self):
        self.ws.close()


class RealtimeCluster:
    """Realtime workers and APIs on one Redis relay (the ``realtime`` fixture)."""

    def __init__(self, redis_url: str, tmp_root: Path):
        self.tmp = tmp_root / "realtime"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.settings = {
            "DALSTON_REALTIME_URL": redis_url,
            "DALSTON_DATABASE_URL": f"sqlite:///{self.tmp / 'api.db'}",
            "DALSTON_REALTIME_MODEL": "tiny.en",
            "DALSTON_REALTIME_CAPACITY": "2",
            "DALSTON_CPU_THREADS": "2",
            # The test machines are shared and slow: only the lag test closes on lag.
            "DALSTON_REALTIME_LAG_WARNING_SECONDS": "30",
            "DALSTON_REALTIME_LAG_HARD_SECONDS": "120",
        }
        self.workers: list[WorkerProcess] = []
        self.apis: list[ApiServer] = []
        self.main: ApiServer | None = None

    def start(self) -> None:
        self.start_worker()
        self.main = self.api()
        wait_for_workers(self.main.relay, 1)

    def start_worker(self, **env) -> WorkerProcess:
        name = f"worker-realtime-{len(self.workers)}.log"
        worker = WorkerProcess({**self.settings, **env}, self.tmp / name)
        self.workers.append(worker)
        return worker

    def api(self, **settings) -> ApiServer:
        server = ApiServer({**self.settings, **settings})
        self.apis.append(server)
        return server

    def stop(self) -> None:
        for api in self.apis:
            api.stop()
        for worker in self.workers:
            worker.stop()
