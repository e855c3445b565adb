"""A real distributed Dalston: worker processes per queue and the API over HTTP.

Workers are ``python -m workers.<queue>`` subprocesses on the real Redis broker; the API is
``create_app()`` served by werkzeug on a loopback port in a thread. Nothing is eager or
mocked. The integration tests (``tests/conftest.py``: PostgreSQL, moto's S3 server) and the
benchmark (``tests/bench/bench.py``: SQLite, local storage) both run Dalston through this
class, with their own settings.
"""

from __future__ import annotations

import contextlib
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
#: Seconds one long poll of :meth:`Cluster.wait` may last (a dead worker is noticed after it).
LONG_POLL = 2.0


class ClusterError(RuntimeError):
    """A worker exited, or the API refused a request."""


class Cluster:
    """Workers and the API, with ``env`` (``DALSTON_*`` settings) over this process's environment.

    Worker hostnames are ``<name>@<host>``; each worker's output goes to
    ``log_dir/worker-<name>.log``.
    """

    def __init__(self, log_dir: Path, env: dict[str, str], host: str = "test"):
        self.log_dir = log_dir
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.host = host
        self.workers: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
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
        hostname = f"{name}@{self.host}"
        log_path = self.log_dir / f"worker-{name}.log"
        with open(log_path, "ab") as log:
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
        self.logs[hostname] = log_path
        return hostname

    def wait_for_workers(self, hostnames, timeout: float = 60.0) -> None:
        from dalston.celery_app import app

        deadline = time.monotonic() + timeout
        want = set(hostnames)
        while time.monotonic() < deadline:
            for hostname in want:
                proc = self.workers[hostname]
                if proc.poll() is not None:
                    raise ClusterError(
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
        if proc.poll() is None:
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

    def check_workers(self) -> None:
        """Raise ClusterError if a worker this cluster started (and did not stop) has exited."""
        for hostname, proc in self.workers.items():
            if proc.poll() is not None:
                raise ClusterError(
                    f"worker {hostname} died ({proc.returncode}); see {self.log_dir}"
                )

    def print_log_tails(self, lines: int = 40) -> None:
        """The last ``lines`` of every worker's log, on stderr."""
        for hostname, path in self.logs.items():
            print(f"\n----- last {lines} lines of {path.name} ({hostname}) -----", file=sys.stderr)
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError as exc:
                tail = [f"(unreadable: {exc})"]
            print("\n".join(tail), file=sys.stderr)

    # -- API -------------------------------------------------------------------------------
    def start_api(self, config: dict[str, str] | None = None) -> str:
        """``create_app(config)`` on a loopback port; ``config`` overrides the environment."""
        from dalston.app import create_app

        self._server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop_api(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def submit(self, path: Path | None = None, http_timeout: float = 60.0, **data) -> str:
        """POST a native asynchronous job (``data``: its form fields); returns the job id."""
        with open(path, "rb") if path else contextlib.nullcontext() as upload:
            resp = requests.post(
                self.url("/v1/audio/transcriptions"),
                files={"file": (path.name, upload)} if path else None,
                data=data,
                headers={"Prefer": "respond-async"},  # native, not OpenAI (same path)
                timeout=http_timeout,
            )
        if resp.status_code != 201:
            raise ClusterError(f"submit refused: {resp.status_code} {resp.text[:2000]}")
        return resp.json()["id"]

    def job(self, job_id: str, wait: float = 0.0) -> dict:
        """The job; ``wait`` > 0: a long poll, answered once it has ended or after ``wait`` s."""
        resp = requests.get(
            self.url(f"/v1/audio/transcriptions/{job_id}"),
            params={"wait": round(wait, 3)} if wait > 0 else None,
            timeout=30 + wait,
        )
        if resp.status_code != 200:
            raise ClusterError(f"GET job {job_id}: {resp.status_code} {resp.text[:2000]}")
        return resp.json()

    def wait(
        self,
        job_id: str,
        timeout: float = 180.0,
        until=TERMINAL,
        poll: float = 0.3,
        watch_workers: bool = False,
        renew: float = LONG_POLL,
    ) -> dict:
        """Wait until the job's status is in ``until``; TimeoutError after ``timeout`` s.

        Waiting for the job to end is a long poll (``?wait=``: the answer comes as soon as it
        has ended), renewed every ``renew`` s (:data:`LONG_POLL`); waiting for another status
        polls every ``poll`` s. ``watch_workers``: fail at once (ClusterError) if a worker dies
        meanwhile, instead of waiting out the timeout (tests that kill workers on purpose
        leave it off).
        """
        deadline = time.monotonic() + timeout
        long_poll = set(until) <= set(TERMINAL)
        while time.monotonic() < deadline:
            wait = min(renew, max(0.0, deadline - time.monotonic())) if long_poll else 0.0
            job = self.job(job_id, wait=wait)
            if job["status"] in until:
                return job
            if watch_workers:
                self.check_workers()
            if not long_poll:
                time.sleep(poll)
        raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
