"""The API as a process of its own for the fault suite: ``python -m tests.fault.serve PORT``.

Its settings come from the environment the suite gives it (its own Redis and PostgreSQL).
"""

from __future__ import annotations

import sys

from werkzeug.serving import make_server

from dalston.app import create_app

if __name__ == "__main__":
    make_server("127.0.0.1", int(sys.argv[1]), create_app(), threaded=True).serve_forever()
