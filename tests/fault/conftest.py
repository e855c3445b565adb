"""The fault suite's own servers: a Redis and a PostgreSQL it may kill, on spare ports.

Never the machine's own servers: Redis runs without persistence (``--save '' --appendonly
no``, the documented deployment), so killing and restarting it empties it; PostgreSQL is a
fresh ``initdb`` cluster in a temporary directory, stopped and started with ``pg_ctl``.
The API and one worker per queue run as subprocesses with every ``DALSTON_*`` setting
pointing at these servers (the test process's own Celery app points at the test run's
Redis, so it is not used here). Reconciler passes, grace and retry delays are short.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cluster import REPO, Cluster
from tests.fault.points import FAULT_POINTS
from tests.servers import RedisServer, free_port, wait_port

pytestmark = pytest.mark.fault


class PostgresServer:
    """A throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``), run as ``postgres`` when
    the tests run as root (PostgreSQL refuses root)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.datadir = workdir / "pgdata"
        self.sockdir = workdir / "pgsock"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        path = shutil.which("pg_ctl")
        self.bindir = Path(bins[-1]).parent if bins else (Path(path).parent if path else None)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/dalston"

    def _run(self, *argv: str, check: bool = True) -> None:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self) -> None:
        if self.bindir is None:
            from tests.missing import unavailable

            unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        for d in (self.datadir.parent, self.sockdir):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o777)
        if os.geteuid() == 0:
            shutil.chown(self.sockdir, "postgres")
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "dalston")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            opts,
            "-w",
            "-l",
            str(self.datadir.parent / "pg.log"),
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)


class FaultCluster(Cluster):
    """:class:`tests.cluster.Cluster` whose API is a subprocess too (on its own broker)."""

    def start_api_process(self) -> str:
        port = free_port()
        log = open(self.log_dir / "api.log", "ab")
        self.api_proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fault.serve", str(port)],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(port, timeout=60)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop_api(self) -> None:
        proc = getattr(self, "api_proc", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)

    def wait_for_workers(self, hostnames, timeout: float = 120.0) -> None:
        from celery import Celery

        probe = Celery(broker=self.env["DALSTON_BROKER_URL"])
        deadline = time.monotonic() + timeout
        want = set(hostnames)
        try:
            while time.monotonic() < deadline:
                self.check_workers()
                replies = probe.control.inspect(timeout=1, destination=list(want)).ping() or {}
                if want <= set(replies):
                    return
        finally:
            probe.close()
        raise TimeoutError(f"workers {sorted(want)} did not answer within {timeout} s")

    def revive(self) -> list[str]:
        """Start again every worker that exited (a fault point or a kill); their hostnames."""
        revived = []
        for hostname, proc in list(self.workers.items()):
            if proc.poll() is not None:
                name = hostname.split("@")[0]
                del self.workers[hostname]
                revived.append(self.start_worker(name, name=name, args=self.worker_args(name)))
        return revived

    def worker_args(self, queue: str) -> list[str]:
        if queue == "merge":  # the reconciler's beat runs beside the merge worker
            return ["-B", "-s", str(self.log_dir / "beat-schedule")]
        return []


@pytest.fixture(scope="session")
def fault_cluster(s3_endpoint):
    """Own Redis and PostgreSQL, moto S3, the API and one worker per queue."""
    import boto3
    import sqlalchemy as sa

    import celeryconfig
    from dalston.db.migrate import upgrade

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dalston-fault-"))
    os.chmod(work, 0o777)
    redis_server = RedisServer(work)
    pg = PostgresServer(work)
    redis_server.start()
    pg.init()
    upgrade(pg.url)
    sa.create_engine(pg.url).dispose()
    bucket = "dalston-fault"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    env = {
        "DALSTON_DATA_DIR": str(work / "data"),
        "DALSTON_DATABASE_URL": pg.url,
        "DALSTON_BROKER_URL": redis_server.url,
        "DALSTON_RESULT_BACKEND": redis_server.url,
        "DALSTON_S3_BUCKET": bucket,
        "DALSTON_S3_ENDPOINT_URL": s3_endpoint,
        "DALSTON_CPU_THREADS": "1",
        "DALSTON_REQUIRE_AUTH": "false",  # not about keys
        "DALSTON_CHUNK_SECONDS": "60",
        "DALSTON_ENGINE_PLUGINS": "tests.fakes",
        "DALSTON_TRANSCRIBE_ENGINE": "fake",
        "DALSTON_DIARIZE_ENGINE": "fake",
        "DALSTON_FAKE_BEHAVIOUR": "sleep:1.5",
        "DALSTON_RECONCILE_INTERVAL": "3",
        "DALSTON_RECONCILE_GRACE": "8",
        "DALSTON_DB_RETRY_DEADLINE": "300",
        "DALSTON_VISIBILITY_TIMEOUT": "30",
        "DALSTON_RESTORE_INTERVAL": "1",
        "DALSTON_RESTORE_THROTTLE": "1",
        # Several crash points can hit one job's prepare in a row (scenario 3).
        "DALSTON_MAX_STAGE_ATTEMPTS": "6",
        # Every crash point is armed by the test that wants it (tests/fault/test_faults.py).
        "DALSTON_FAULT_POINT": ",".join(FAULT_POINTS),
    }
    faults_dir = work / "data" / "faults"
    faults_dir.mkdir(parents=True)
    for point in FAULT_POINTS:  # disarmed: a marker means "already fired"
        (faults_dir / point).touch()
    log_dir = work / "logs"
    log_dir.mkdir()
    cluster = FaultCluster(log_dir, env, host="fault")
    cluster.redis, cluster.pg, cluster.bucket, cluster.faults_dir = (
        redis_server,
        pg,
        bucket,
        faults_dir,
    )
    cluster.s3_endpoint = s3_endpoint
    try:
        names = [
            cluster.start_worker(q, args=cluster.worker_args(q)) for q in celeryconfig.STAGE_QUEUES
        ]
        cluster.start_api_process()
        cluster.wait_for_workers(names)
        cluster.started_in = time.monotonic() - started
        yield cluster
    except BaseException:
        cluster.print_log_tails()
        raise
    finally:
        cluster.stop_api()
        cluster.stop_all()
        redis_server.kill()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
