"""A second API over the test cluster's services, with ``DALSTON_API_KEY`` set.

The cluster's own API runs open; the console and CLI tests need one that asks for it.
Its jobs run on the cluster's workers (same broker, database and bucket).
"""

from __future__ import annotations

import threading

from werkzeug.serving import make_server

KEY = "console-and-cli-key"


class KeyedApi:
    def __init__(self, settings: dict[str, str], key: str = KEY):
        from dalston.app import create_app

        self.key = key
        self._server = make_server(
            "127.0.0.1",
            0,
            create_app({**settings, "DALSTON_API_KEY": key, "DALSTON_REQUIRE_AUTH": "true"}),
            threaded=True,
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"

    def close(self) -> None:
        self._server.shutdown()
