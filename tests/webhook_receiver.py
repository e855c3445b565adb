"""A webhook receiver on loopback that records every POST (for ``webhook=true`` tests)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self):
        self.received: list[dict] = []
        self._lock = threading.Lock()
        #: path -> answers still to give, in order (a status, or ("redirect", status, url));
        #: a path with none left answers 200.
        self._script: dict[str, list] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    pending = receiver._script.get(self.path) or []
                    answer = pending.pop(0) if pending else 200
                    receiver.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "answered": answer,
                        }
                    )
                if isinstance(answer, tuple):
                    _, status, location = answer
                    self.send_response(status)
                    self.send_header("Location", location)
                else:
                    self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/elevenlabs"
        #: The same server by a name the cluster's DALSTON_WEBHOOK_ALLOW_HOSTS allows.
        self.allowed_base = f"http://localhost:{self._server.server_port}"
        self.loopback_base = f"http://127.0.0.1:{self._server.server_port}"

    def script(self, path: str, answers: list) -> None:
        """Answer POSTs to ``path`` with ``answers`` in turn (then 200)."""
        with self._lock:
            self._script[path] = list(answers)

    def to(self, path: str) -> list[dict]:
        """Every POST received at ``path``, in order."""
        with self._lock:
            return [r for r in self.received if r["path"] == path]

    def wait_for(self, predicate, timeout: float = 120.0) -> dict:
        """The first delivery whose parsed request satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for item in self.received:
                    try:
                        if predicate(item):
                            return item
                    except (KeyError, TypeError, ValueError):  # another test's kind of event
                        continue
            time.sleep(0.2)
        raise TimeoutError(f"no matching webhook within {timeout} s; got {self.received}")

    def close(self) -> None:
        self._server.shutdown()
