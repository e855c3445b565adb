"""Embedded mode for one command: when ``dalston transcribe`` finds no server on this
machine, it starts ``python -m dalston.embedded`` (what ``make run`` runs) in a child
process on the URL's port, uses it, and stops it when the command ends.

A child process, not an import: the client stays a client (it imports no pipeline code),
and the server's Celery app reads its embedded broker settings at import, which must not
leak into the client's own process. The server's output goes to a log file in the data
directory; the user is told so on stderr.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from dalston.config import environ_with

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


class EmbeddedServer:
    """``python -m dalston.embedded`` listening on ``url``'s host and port."""

    def __init__(self, url: str, data_dir: Path):
        parts = urlsplit(url)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "embedded-cli.log"
        env = environ_with(
            {
                "DALSTON_HOST": parts.hostname or "127.0.0.1",
                "DALSTON_PORT": str(parts.port or 80),
                "DALSTON_DATA_DIR": str(data_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dalston.embedded"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the client only
            )

    def wait_ready(self, healthy, timeout: float = 600.0) -> None:
        """Wait until ``healthy()`` (the first start joins the default model: minutes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"embedded mode exited with status {self.proc.returncode}; "
                    f"see {self.log_path}"
                )
            if healthy():
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"embedded mode did not start within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
