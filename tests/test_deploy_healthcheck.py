"""``deploy/healthcheck.py``, the containers' health checks, against real processes.

Compose and the Kubernetes probes call it; here it runs as they run it (a child process,
exit status 0 = healthy) against the test cluster's real Celery workers and API, a realtime
worker's heartbeat in the real Redis relay, and a beat schedule file, and each check also
fails when what it looks for is gone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def _check(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_celery_check_pings_the_named_worker(cluster):
    assert _check(cluster.env, "celery", "prepare@test").returncode == 0
    missing = _check(cluster.env, "celery", "prepare@no-such-host")
    assert missing.returncode == 1 and "unhealthy" in missing.stderr


def test_http_check_reads_the_api_health(cluster):
    assert _check(cluster.env, "http", cluster.url("/health")).returncode == 0
    assert _check(cluster.env, "http", cluster.url("/no-such-page")).returncode == 1


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test alone: the suite's cluster runs a realtime worker of this host
    that heartbeats in the shared one, and "no heartbeat after unregister" must be true."""
    from tests.servers import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    yield server.url
    server.kill()


def test_realtime_check_sees_this_hosts_heartbeat(own_redis):
    from dalston.relay import RedisRelay

    env = {**os.environ, "DALSTON_REALTIME_URL": own_redis}
    relay = RedisRelay(own_redis, heartbeat_timeout=30.0)
    worker_id = f"realtime-{socket.gethostname()}-{os.getpid()}"
    relay.register(worker_id, 2, {"model": "tiny.en"})
    try:
        assert _check(env, "realtime").returncode == 0
    finally:
        relay.unregister(worker_id)
    assert _check(env, "realtime").returncode == 1


def test_beat_check_wants_a_recently_synced_schedule(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    assert _check(dict(os.environ), "beat", str(schedule)).returncode == 1  # never written
    (tmp_path / "celerybeat-schedule.db").write_bytes(b"")
    assert _check(dict(os.environ), "beat", str(schedule)).returncode == 0
    old = time.time() - 3600
    os.utime(tmp_path / "celerybeat-schedule.db", (old, old))
    assert _check(dict(os.environ), "beat", str(schedule)).returncode == 1


def test_an_unknown_check_is_a_usage_error():
    assert _check(dict(os.environ), "nonsense").returncode == 2
