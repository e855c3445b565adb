"""Container health checks: ``python deploy/healthcheck.py <kind> [argument]``, exit 0 = healthy.

One small script for every long-running Dalston container (compose ``healthcheck`` and
Kubernetes probes), so the images need no curl and each check asks the process the one
question that shows it works:

* ``http URL`` — the URL answers 2xx (the API's ``/health``, Flower's ``/healthcheck``).
* ``celery NODE`` — the Celery worker ``NODE`` (``<queue>@<hostname>``, the name
  ``workers/_launch.py`` gives it) answers a broadcast ping through the broker. A solo-pool
  (GPU) worker cannot answer while it runs a task, so its check tolerates long silences
  (compose's retries); Kubernetes uses no liveness probe for workers for the same reason.
* ``realtime`` — a realtime worker of this host keeps its heartbeat key fresh in Redis
  (``dalston.relay``: ``…:w:realtime-<hostname>-<pid>:alive``).
* ``beat FILE`` — celery beat synced its schedule file (``-s FILE``) in the last ten
  minutes (beat syncs every three minutes while its loop runs).
"""

from __future__ import annotations

import glob
import os
import socket
import sys
import time
import urllib.request


def check_http(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (fixed local URL)
        return 200 <= resp.status < 300


def check_celery(node: str) -> bool:
    from dalston.celery_app import app

    replies = app.control.ping(destination=[node], timeout=5.0) or []
    return any(node in reply for reply in replies)


def check_realtime() -> bool:
    import redis

    from dalston.config import get_settings
    from dalston.relay import PREFIX

    client = redis.Redis.from_url(get_settings().realtime_url, socket_timeout=5)
    pattern = f"{PREFIX}w:realtime-{socket.gethostname()}-*:alive"
    return any(True for _ in client.scan_iter(match=pattern, count=1000))


def check_beat(schedule: str, max_age: float = 600.0) -> bool:
    # The shelve backend may add a suffix (.db, .dat): any file of the schedule counts.
    files = glob.glob(glob.escape(schedule) + "*")
    return any(time.time() - os.path.getmtime(path) < max_age for path in files)


CHECKS = {
    "http": check_http,
    "celery": check_celery,
    "realtime": check_realtime,
    "beat": check_beat,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: healthcheck.py {{{'|'.join(CHECKS)}}} [argument]", file=sys.stderr)
        return 2
    try:
        healthy = CHECKS[argv[0]](*argv[1:])
    except Exception as exc:  # a probe reports, it never raises
        print(f"unhealthy: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: {' '.join(argv)}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
