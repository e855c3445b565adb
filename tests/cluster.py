"""A real distributed Dalston for tests: worker processes per queue and the API over HTTP.

Workers are ``python -m workers.<queue>`` subprocesses on the real Redis broker, with
PostgreSQL and moto's S3 server; the API is ``create_app()`` served by werkzeug on a
loopback port in a thread. Nothing is eager or mocked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
TERMINAL = ("completed", "failed", "cancelled")


class Cluster:
    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir = log_dir
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.workers: dict[str, subprocess.Popen] = {}
        self._server = None
        self.base_url = ""

    # -- workers -------------------------------------------------------------------------
    def start_worker(
        self,
        queue: str,
        name: str | None = None,
        env: dict | None = None,
        args: list[str] | None = None,
    ) -> str:
        name = name or queue
        hostname = f"{name}@test"
        log = open(self.log_dir / f"worker-{name}.log", "ab")
        self.workers[hostname] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"workers.{queue}",
                "-n",
                hostname,
                "--without-mingle",
                "--without-gossip",
                *(args or []),
            ],
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return hostname

    def wait_for_workers(self, hostnames, timeout: float = 60.0) -> None:
        from dalston.celery_app import app

        deadline = time.monotonic() + timeout
        want = set(hostnames)
        while time.monotonic() < deadline:
            for hostname in want:
                proc = self.workers[hostname]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"worker {hostname} exited with {proc.returncode}; see {self.log_dir}"
                    )
            replies = app.control.inspect(timeout=0.5, destination=list(want)).ping() or {}
            if want <= set(replies):
                return
        raise TimeoutError(f"workers {sorted(want)} did not answer within {timeout} s")

    def kill(self, hostname: str, sig=signal.SIGKILL) -> None:
        proc = self.workers.pop(hostname)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop(self, hostname: str) -> None:
        proc = self.workers.pop(hostname)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for hostname in list(self.workers):
            self.stop(hostname)

    def alive(self, hostname: str) -> bool:
        return self.workers[hostname].poll() is None

    # -- API -------------------------------------------------------------------------------
    def start_api(self, config: dict[str, str]) -> str:
        from dalston.app import create_app

        self._server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop_api(self) -> None:
        if self._server:
            self._server.shutdown()

    def url(self, path: str) -> str:
        return self.base_url + path

    def submit(self, path: Path | None = None, **data) -> str:
        files = {"file": (path.name, path.read_bytes())} if path else None
        resp = requests.post(
            self.url("/v1/audio/transcriptions"),
            files=files,
            data=data,
            headers={"Prefer": "respond-async"},  # native, not OpenAI (same path)
            timeout=60,
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def job(self, job_id: str) -> dict:
        resp = requests.get(self.url(f"/v1/audio/transcriptions/{job_id}"), timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, job_id: str, timeout: float = 180.0, until=TERMINAL) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in until:
                return job
            time.sleep(0.3)
        raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
