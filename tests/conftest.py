"""Test configuration: environment first, then real services.

The ``DALSTON_*`` variables are set here, before anything imports ``dalston`` (the Celery
app reads ``celeryconfig`` at import). Services are real: PostgreSQL and Redis on
127.0.0.1, moto's S3 server on loopback, real models. Without a service, tests that need it
are skipped locally; with ``CI=true`` a missing service fails the run.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = (REPO.parent / "shared" / "fixtures" / "audio").resolve()
_TMP = Path(tempfile.mkdtemp(prefix="dalston-tests-"))
PG_ADMIN_URL = os.environ.get(
    "DALSTON_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
TEST_DB = f"dalston_test_{os.getpid()}"


def _claim_redis_db() -> str:
    """A Redis database no other live test run is using (13, then 14, 15, 12, …).

    Two test runs on one Redis (two developers' shells, a helper and CI) would otherwise
    flush and consume each other's queues. A run claims a database with a ``SET NX`` of its
    pid; a claim whose process is gone is taken over.
    """
    if os.environ.get("DALSTON_TEST_REDIS"):
        return os.environ["DALSTON_TEST_REDIS"]
    try:
        import redis

        for db in (13, 14, 15, 12, 11, 10, 9, 8):
            client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=1)
            owner = client.get("dalston:test-run")
            if owner is not None:
                try:
                    os.kill(int(owner), 0)
                    continue  # a live run holds it
                except (ProcessLookupError, ValueError):
                    client.delete("dalston:test-run")
            if client.set("dalston:test-run", os.getpid(), nx=True):
                return f"redis://127.0.0.1:6379/{db}"
    except Exception:  # Redis down: require_service reports it when a test needs it
        pass
    return "redis://127.0.0.1:6379/13"


REDIS_URL = _claim_redis_db()

os.environ.update(
    DALSTON_DATA_DIR=str(_TMP / "data"),
    DALSTON_DEFAULT_MODEL="tiny.en",
    DALSTON_DATABASE_URL=PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + TEST_DB,
    DALSTON_BROKER_URL=REDIS_URL,
    DALSTON_RESULT_BACKEND=REDIS_URL,
    DALSTON_MODEL_DIR=str(
        Path(os.environ.get("DALSTON_TEST_MODEL_DIR", REPO / ".dalston" / "models"))
    ),
    # Short enough that a killed worker's task is delivered again within a test.
    DALSTON_VISIBILITY_TIMEOUT="45",
    DALSTON_RESTORE_INTERVAL="1",
    DALSTON_RESTORE_THROTTLE="1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    HF_HUB_OFFLINE="1",
    # Metrics of every process of the run (the API here, the cluster's workers) in one
    # directory, as in a deployment: set before anything imports prometheus-client.
    PROMETHEUS_MULTIPROC_DIR=str(_TMP / "metrics"),
)
(_TMP / "metrics").mkdir()
os.environ.pop("DALSTON_S3_BUCKET", None)

import pytest  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally, fail in CI, when a service is not listening."""
    if _port_open(host, port):
        return
    from tests.missing import unavailable  # here: the environment above is set first

    unavailable(f"{name} is not reachable on {host}:{port}")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"shared fixtures not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    return _TMP


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL database for this run, migrated with Alembic, dropped at the end."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    from dalston.db.migrate import upgrade

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{TEST_DB}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{TEST_DB}"'))
    url = os.environ["DALSTON_DATABASE_URL"]
    upgrade(url)
    yield url
    from dalston.db.session import dispose_all

    dispose_all()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url():
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.set("dalston:test-run", os.getpid())  # keep the claim (see _claim_redis_db)
    yield REDIS_URL
    client.flushdb()


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on loopback (reachable from worker processes)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def make_bucket(s3_endpoint):
    """Create a fresh bucket (moto's state is process-global: one bucket per test)."""
    import uuid

    import boto3

    def _make() -> str:
        name = f"dalston-test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
            Bucket=name
        )
        return name

    return _make


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


#: The secret the test cluster signs its webhooks with.
WEBHOOK_SECRET = "whsec_dalston_tests"


@pytest.fixture(scope="session")
def webhook_receiver():
    from tests.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def cluster(postgres_url, redis_url, s3_endpoint, tmp_root, webhook_receiver):
    """Distributed Dalston: one worker process per queue, the API over HTTP, moto S3.

    One per test run (workers of two clusters would share the Redis queues), used by the
    integration and the SDK compatibility tests alike.
    """
    import boto3

    import celeryconfig
    from tests.cluster import Cluster

    bucket = "dalston-integration"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    settings = {
        "DALSTON_S3_BUCKET": bucket,
        "DALSTON_S3_ENDPOINT_URL": s3_endpoint,
        "DALSTON_DATABASE_URL": postgres_url,
        "DALSTON_CPU_THREADS": "1",
        "DALSTON_ALLOW_PRIVATE_URLS": "false",
        "DALSTON_WEBHOOK_URL": webhook_receiver.url,
        "DALSTON_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # The SDK and pipeline tests are not about keys: this API runs open (KeyedApi and
        # tests/api/test_keys*.py check keys).
        "DALSTON_REQUIRE_AUTH": "false",
        # The receiver is on loopback: addressed as "localhost" it is allowed, while
        # 127.0.0.1 and every other private address stay refused (tests/integration/
        # test_webhooks.py). Retries come quickly.
        "DALSTON_WEBHOOK_ALLOW_HOSTS": "localhost",
        "DALSTON_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "DALSTON_WEBHOOK_MAX_ATTEMPTS": "5",
        "DALSTON_LOG_FORMAT": "json",
    }
    log_dir = tmp_root / "logs"
    log_dir.mkdir(exist_ok=True)
    c = Cluster(log_dir, settings)
    c.bucket = bucket
    c.s3_endpoint = s3_endpoint
    c.settings = settings
    try:
        queues = celeryconfig.STAGE_QUEUES + celeryconfig.OTHER_QUEUES
        names = [c.start_worker(queue) for queue in queues]
        c.start_api(settings)
        c.wait_for_workers(names, timeout=90)
        yield c
    finally:
        c.stop_api()
        c.stop_all()


@pytest.fixture(scope="session")
def s3(cluster):
    """``keys(prefix)``: the object keys under ``prefix`` in the cluster's bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1")

    def keys(prefix: str) -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=cluster.bucket, Prefix=prefix
        )
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    return keys


@pytest.fixture(scope="session")
def realtime(redis_url, tmp_root):
    """Realtime over the real Redis relay: one ``python -m workers.realtime`` (tiny.en, two
    slots) and an API; ``realtime.api(**settings)`` starts another API on the same relay
    with other limits. Shared by the realtime integration and SDK tests."""
    from tests.realtime_helpers import RealtimeCluster

    cluster = RealtimeCluster(redis_url, tmp_root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
