"""A webhook receiver on loopback that records every POST (for ``webhook=true`` tests)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self):
        self.received: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/elevenlabs"

    def wait_for(self, predicate, timeout: float = 120.0) -> dict:
        """The first delivery whose parsed request satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for item in self.received:
                    if predicate(item):
                        return item
            time.sleep(0.2)
        raise TimeoutError(f"no matching webhook within {timeout} s; got {self.received}")

    def close(self) -> None:
        self._server.shutdown()
