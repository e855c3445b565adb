"""Fair scheduling: a 3-second job submitted while a 30-minute job is being transcribed,
with all its chunks queued, finishes before the long job's next chunk (its second, unless
prepare finished only after the first), in distributed and in embedded mode.

The transcription engine is the fake (``tests.fakes_transcriber``) with a fixed cost per
chunk (``sleep:4``), so the order is the scheduler's alone. One transcribe worker; the order is
read from the stage rows' timestamps, not from timing thresholds. Distributed mode runs
on a Redis server of its own (a spare port), SQLite and local storage, with the API as a
subprocess, so its queues are nobody else's.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from dalston import audio
from tests.audio_helpers import load
from tests.cluster import Cluster
from tests.integration.test_embedded import SERVER_VARS, Embedded
from tests.integration.test_prepare_memory import write_long_flac

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FAKE = {
    "DALSTON_ENGINE_PLUGINS": "tests.fakes_transcriber",
    "DALSTON_FAKE_BEHAVIOUR": "sleep:4",
}
FIELDS = {"timestamps_granularity": "segment"}  # no align stage: transcribe is the work


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _at(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@pytest.fixture(scope="module")
def files(fixtures_dir, tmp_path_factory):
    jfk = load(fixtures_dir / "jfk.flac")
    tmp = tmp_path_factory.mktemp("fairness")
    long = write_long_flac(tmp / "thirty-minutes.flac", 1800, jfk, every=20.0)
    short = tmp / "three-seconds.wav"
    short.write_bytes(audio.to_wav_bytes(np.ascontiguousarray(jfk[16000 : 4 * 16000])))
    return long, short


class Api:
    """Native async submit and GET over HTTP."""

    def __init__(self, base: str):
        self.base = base

    def submit(self, path: Path) -> str:
        with open(path, "rb") as f:
            resp = requests.post(
                f"{self.base}/v1/audio/transcriptions",
                files={"file": (path.name, f)},
                data=FIELDS,
                headers={"Prefer": "respond-async"},
                timeout=120,
            )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def job(self, job_id: str) -> dict:
        return requests.get(f"{self.base}/v1/audio/transcriptions/{job_id}", timeout=30).json()

    def wait_for(self, job_id: str, ready, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if ready(job):
                return job
            assert job["status"] not in ("failed", "cancelled"), job
            time.sleep(0.2)
        raise TimeoutError(job)

    def cancel(self, job_id: str) -> None:
        requests.post(f"{self.base}/v1/audio/transcriptions/{job_id}/cancel", timeout=30)


def _chunk(job: dict, part: int) -> dict | None:
    return next(
        (s for s in job["stages"] if s["stage"] == "transcribe" and s["part"] == part), None
    )


#: The short job is submitted at most this long after the long job's current chunk started
#: (of the fake's 4 s): its own prepare takes tens of milliseconds, and a job submitted
#: in the last of them before a chunk ends cannot be queued before the next one starts
#: (a fresh clone's run once submitted it 6 ms before chunk 0 ended). It then waits one
#: more chunk, which the policy allows (added wait ≤ one chunk) but this order does not show.
FRESH_CHUNK_SECONDS = 1.5


def _running(job: dict) -> int | None:
    """The part of the long job's chunk being transcribed, once every chunk is queued."""
    if not any(s["stage"] == "prepare" and s["status"] == "completed" for s in job["stages"]):
        return None  # chunk 0 starts while prepare still decodes; the rest come after it
    parts = [s["part"] for s in job["stages"] if s["stage"] == "transcribe"]
    running = [p for p in parts if _chunk(job, p)["status"] == "running"]
    return min(running) if running and max(parts) > min(running) + 1 else None


def _fresh(job: dict) -> bool:
    """Whether ``_running`` has a chunk that started under ``FRESH_CHUNK_SECONDS`` ago."""
    part = _running(job)
    if part is None:
        return False
    started = _at(_chunk(job, part)["started_at"])
    return dt.datetime.now(dt.timezone.utc) - started < dt.timedelta(seconds=FRESH_CHUNK_SECONDS)


def check_short_job_goes_first(api: Api, long: Path, short: Path) -> None:
    long_id = api.submit(long)
    job = api.wait_for(long_id, _fresh)
    current = _running(job)
    chunks = [s for s in job["stages"] if s["stage"] == "transcribe"]
    assert len(chunks) >= 10, "the long job has its chunks queued"
    short_id = api.submit(short)
    done = api.wait_for(short_id, lambda j: j["status"] == "completed", timeout=120)
    long_job = api.job(long_id)
    api.cancel(long_id)
    first, second = _chunk(long_job, current), _chunk(long_job, current + 1)
    (own,) = [s for s in done["stages"] if s["stage"] == "transcribe"]
    assert done["text"] == "chunk of 3.0 seconds", "the fake engine, at its fixed cost"
    # The short job's chunk ran right after the chunk that was running when it came...
    assert _at(own["started_at"]) >= _at(first["completed_at"])
    # ...and the short job finished before the long job's next chunk did (or started).
    assert second["completed_at"] is None or _at(done["completed_at"]) < _at(
        second["completed_at"]
    ), (done, second)
    assert second["started_at"] is None or _at(own["started_at"]) < _at(second["started_at"])


def test_distributed_short_job_overtakes_a_long_one(files, tmp_path):
    long, short = files
    port = _port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    broker = f"redis://127.0.0.1:{port}/0"
    env = {
        **{k: v for k, v in os.environ.items() if k not in SERVER_VARS},
        **FAKE,
        "DALSTON_BROKER_URL": broker,
        "DALSTON_RESULT_BACKEND": broker,
        "DALSTON_DATA_DIR": str(tmp_path / "data"),
        "DALSTON_DATABASE_URL": f"sqlite:///{tmp_path / 'fair.db'}",
        "DALSTON_STORAGE_DIR": str(tmp_path / "artifacts"),
        "DALSTON_DEFAULT_MODEL": "tiny.en",
    }
    env.pop("DALSTON_S3_ENDPOINT_URL", None)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from dalston.db.migrate import upgrade; " "upgrade(sys.argv[1])",
            env["DALSTON_DATABASE_URL"],
        ],
        cwd=REPO,
        env=env,
        check=True,
    )
    cluster = Cluster(tmp_path, {}, host="fair")
    cluster.env = {**env, "PYTHONUNBUFFERED": "1"}
    api_port = _port()
    api = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from werkzeug.serving import run_simple; "
            "from dalston.app import create_app; "
            "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)",
            str(api_port),
        ],
        cwd=REPO,
        env=cluster.env,
        stdout=open(tmp_path / "api.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        for queue in ("prepare", "transcribe", "merge"):
            cluster.start_worker(queue, args=["--concurrency", "1"])
        client = Api(f"http://127.0.0.1:{api_port}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(client.base + "/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        check_short_job_goes_first(client, long, short)
    except BaseException:
        cluster.print_log_tails()
        raise
    finally:
        api.terminate()
        api.wait(timeout=30)
        cluster.stop_all()
        redis.terminate()
        redis.wait(timeout=30)


def test_embedded_short_job_overtakes_a_long_one(files, tmp_path, monkeypatch):
    long, short = files
    for name, value in FAKE.items():
        monkeypatch.setenv(name, value)
    server = Embedded(tmp_path / "data")
    try:
        check_short_job_goes_first(Api(server.base), long, short)
    finally:
        server.stop()
