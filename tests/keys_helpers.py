"""What the key, isolation and limits tests share: a server that requires keys, tenant keys
made in its database, a short WAV to submit, and API servers in their own processes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
import wave
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
#: The bootstrap admin key (``DALSTON_API_KEY``) of the servers these tests start.
ADMIN = "bootstrap-admin-key"
NATIVE = {"Prefer": "respond-async"}
#: Every scope but admin.
TENANT_SCOPES = ["jobs:read", "jobs:write", "realtime", "webhooks"]


def secure_settings(database_url: str, storage: Path, **extra) -> dict[str, str]:
    return {
        "DALSTON_DATABASE_URL": database_url,
        "DALSTON_STORAGE_DIR": str(storage),
        "DALSTON_API_KEY": ADMIN,
        "DALSTON_REQUIRE_AUTH": "true",
        **extra,
    }


def make_key(database_url: str, tenant: str, scopes=None, name: str | None = None, **kw) -> str:
    """A key of ``tenant`` made straight in the database (as ``dalston keys create`` does)."""
    from dalston import keys
    from dalston.db.session import session_scope

    with session_scope(database_url) as session:
        _row, key = keys.create_key(
            session, name or f"test {tenant}", scopes or TENANT_SCOPES, tenant, **kw
        )
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wav_bytes(seconds: float = 0.5) -> bytes:
    """Silence as a 16 kHz mono WAV: decodable audio the edge accepts."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * int(16000 * seconds))
    return out.getvalue()


def error_code(body: dict) -> str:
    """The machine-readable code of any family's error body."""
    return body["detail"]["code"] if "detail" in body else body["error"]["code"]


class ApiProcess:
    """``create_app()`` under werkzeug's threaded server in its own Python process (as a
    gunicorn worker is its own process): ``env`` over this process's environment."""

    def __init__(self, env: dict[str, str], log_path: Path):
        code = (
            "from werkzeug.serving import make_server\n"
            "from dalston.app import create_app\n"
            "server = make_server('127.0.0.1', 0, create_app(), threaded=True)\n"
            "print(server.server_port, flush=True)\n"
            "server.serve_forever()\n"
        )
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the API process did not start; see {log_path}")
        self.port = int(line)
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.http + "/health", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the API process on {self.port} never answered")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def fresh_database(admin_url: str) -> str:
    """A new, migrated PostgreSQL database beside the run's (drop it with drop_database):
    counts of jobs in it are this module's alone."""
    import sqlalchemy as sa

    from dalston.db.migrate import upgrade

    name = f"dalston_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def drop_database(admin_url: str, url: str) -> None:
    import sqlalchemy as sa

    from dalston.db.session import get_engine

    get_engine(url).dispose()
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()
