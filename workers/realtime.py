"""The realtime worker: ``python -m workers.realtime`` (``make worker-realtime``).

Not a Celery queue: it loads the streaming model once and serves up to
``DALSTON_REALTIME_CAPACITY`` WebSocket sessions relayed by the API through Redis
(``dalston.streaming.worker``, ``dalston.relay``).
"""

from __future__ import annotations

import sys


def main() -> int:
    from dalston import logging_setup
    from dalston.config import get_settings
    from dalston.relay import make_relay
    from dalston.streaming.worker import RealtimeWorker

    settings = get_settings()
    logging_setup.configure(settings.log_format, settings.log_level)
    relay = make_relay(settings.realtime_url, settings.realtime_heartbeat_timeout)
    RealtimeWorker(settings, relay).run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
