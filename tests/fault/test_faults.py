"""What an operator meets in a normal month, on the suite's own Redis and PostgreSQL.

1. Redis killed and restarted empty with ten jobs in flight (short real-model files,
   3-minute files, diarized files): all ten complete, each with one transcript identical to
   a clean run of the same file.
2. PostgreSQL stopped for 60 s with jobs in flight: every API read answers 503
   ``database_unavailable`` with ``Retry-After`` (no 500, no host or port); a submission
   answers the same and leaves no object; the workers live; every job completes after.
3. A worker killed inside each crash window (prepare between sending the rest and marking
   itself done, and around it; merge around completing the job) and at the start of each
   stage: every job completes.

Real models (tiny.en, pocketsphinx) transcribe and align the short files; the fake engines
(``tests.fakes``: 1.5 s per chunk) stand in for the long and diarized ones, so the suite
stays within minutes. The reconciler runs every 3 s with an 8 s grace (beat beside the
merge worker).
"""

from __future__ import annotations

import random
import threading
import time

import boto3
import numpy as np
import pytest
import requests

from tests.audio_helpers import load, write_wav
from tests.fault.points import FAULT_POINTS

pytestmark = pytest.mark.fault
URL = "/v1/audio/transcriptions"
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def files(fixtures_dir, tmp_path_factory):
    """The three kinds of file, and the form each is sent with."""
    d = tmp_path_factory.mktemp("faults")
    jfk = load(fixtures_dir / "jfk.flac")
    gap = np.zeros(8000, dtype=jfk.dtype)
    long = np.concatenate([np.concatenate([jfk, gap])] * 16)  # ~3 minutes of speech
    return {
        "short": (write_wav(jfk, d / "short.wav"), {"transcribe_engine": "faster_whisper"}),
        "long": (write_wav(long, d / "long.wav"), {"timestamps_granularity": "segment"}),
        "diarized": (
            write_wav(np.concatenate([jfk, gap] * 4), d / "diarized.wav"),
            {"timestamps_granularity": "segment", "speaker_detection": "diarize"},
        ),
    }


def submit(cluster, files, kind: str) -> str:
    path, form = files[kind]
    return cluster.submit(path, **form)


def shape(job: dict) -> dict:
    """What must be identical to a clean run: the text, the segments and their speakers."""
    return {
        "text": job["text"],
        "segments": [
            (s["start"], s["end"], s["text"], s.get("speaker")) for s in job.get("segments", [])
        ],
        "words": [(w["start"], w["end"], w["text"]) for w in job.get("words") or []],
    }


def wait_all(cluster, job_ids, timeout: float = 300.0) -> dict[str, dict]:
    """Poll every job to a terminal status, reviving any worker that died meanwhile."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict] = {}
    while time.monotonic() < deadline and len(done) < len(job_ids):
        cluster.revive()
        for job_id in job_ids:
            if job_id in done:
                continue
            try:
                job = cluster.job(job_id)
            except Exception:  # the API's broker or database is coming back
                continue
            if job["status"] in TERMINAL:
                done[job_id] = job
        time.sleep(0.5)
    missing = {j: cluster.job(j)["status"] for j in job_ids if j not in done}
    if missing:
        cluster.print_log_tails(60)
    assert not missing, f"still unfinished after {timeout} s: {missing}"
    return done


def transcripts(cluster, job_id: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1")
    resp = client.list_objects_v2(Bucket=cluster.bucket, Prefix=f"jobs/{job_id}/merge/")
    return [o["Key"] for o in resp.get("Contents", []) if o["Key"].endswith(".json")]


@pytest.fixture(scope="module")
def clean(fault_cluster, files):
    """A clean run of each kind of file: what every faulted run must equal."""
    ids = {kind: submit(fault_cluster, files, kind) for kind in files}
    jobs = wait_all(fault_cluster, list(ids.values()))
    out = {}
    for kind, job_id in ids.items():
        assert jobs[job_id]["status"] == "completed", jobs[job_id]
        out[kind] = shape(jobs[job_id])
    assert "country" in out["short"]["text"].lower(), "the real model transcribed the file"
    return out


def check_identical(cluster, jobs: dict[str, dict], kinds: dict[str, str], clean: dict) -> None:
    for job_id, job in jobs.items():
        assert job["status"] == "completed", job
        assert shape(job) == clean[kinds[job_id]], f"job {job_id} ({kinds[job_id]}) differs"
        assert transcripts(cluster, job_id) == [f"jobs/{job_id}/merge/transcript.json"]


def test_redis_restarted_empty_with_ten_jobs_in_flight(fault_cluster, files, clean):
    cluster = fault_cluster
    kinds = {}
    for kind in ["short"] * 3 + ["long"] * 4 + ["diarized"] * 3:
        kinds[submit(cluster, files, kind)] = kind
    # In flight: some chunks transcribed, others queued, chords waiting for their header.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = [cluster.job(j) for j in kinds]
        if sum(j["status"] == "running" for j in states) >= 3:
            break
        time.sleep(0.3)
    time.sleep(2.0)
    cluster.redis.kill()
    time.sleep(1.0)
    cluster.redis.start()  # empty: no persistence
    jobs = wait_all(cluster, list(kinds), timeout=360)
    check_identical(cluster, jobs, kinds, clean)
    assert all(cluster.alive(h) for h in cluster.workers)


def test_postgres_down_for_a_minute(fault_cluster, files, clean):
    cluster = fault_cluster
    kinds = {submit(cluster, files, kind): kind for kind in ("long", "long", "diarized", "short")}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(cluster.job(j)["status"] == "running" for j in kinds):
            break
        time.sleep(0.3)
    job_id = next(iter(kinds))
    reads = [
        f"{URL}/{job_id}",
        URL,
        f"/v1/speech-to-text/transcripts/{job_id}",
        f"{URL}/{job_id}/export/srt",
    ]
    answers: list[tuple[str, int, dict, str | None]] = []
    before = set(_objects(cluster))
    cluster.pg.stop()
    outage_started = time.monotonic()
    try:
        while time.monotonic() - outage_started < 60:
            for path in reads:
                resp = requests.get(cluster.url(path), timeout=30)
                answers.append(
                    (path, resp.status_code, resp.json(), resp.headers.get("Retry-After"))
                )
            path, form = files["short"]
            with open(path, "rb") as f:
                resp = requests.post(
                    cluster.url(URL),
                    files={"file": ("short.wav", f)},
                    headers={"Prefer": "respond-async"},
                    timeout=30,
                )
            answers.append(("POST", resp.status_code, resp.json(), resp.headers.get("Retry-After")))
            cluster.check_workers()  # the workers wait the outage out
            time.sleep(3)
    finally:
        cluster.pg.start()
    assert answers
    port = str(cluster.pg.port)
    for path, status, body, retry_after in answers:
        detail = body.get("detail") or body.get("error")
        assert status == 503 and detail["code"] == "database_unavailable", (path, status, body)
        assert retry_after, (path, "Retry-After")
        text = str(body)
        assert port not in text and "127.0.0.1" not in text and "psycopg" not in text, text
    assert set(_objects(cluster)) - before <= {
        k for k in _objects(cluster) if k.split("/")[1] in kinds
    }, "a refused submission left its upload"
    jobs = wait_all(cluster, list(kinds), timeout=360)
    check_identical(cluster, jobs, kinds, clean)


def _objects(cluster) -> list[str]:
    client = boto3.client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


WINDOWS = FAULT_POINTS


def test_a_worker_killed_in_each_crash_window(fault_cluster, files, clean):
    """Each point fires once (its marker file), for whichever job reaches it first; the
    worker is then started again, as a supervisor would."""
    cluster = fault_cluster
    for point in WINDOWS:
        (cluster.faults_dir / point).unlink()
    kinds = {}
    for kind in ("short", "short", "long", "diarized", "diarized", "long"):
        kinds[submit(cluster, files, kind)] = kind
    # And a SIGKILL at a random moment of a running transcription.
    killer = threading.Thread(target=_kill_at_random, args=(cluster,), daemon=True)
    killer.start()
    jobs = wait_all(cluster, list(kinds), timeout=420)
    killer.join(timeout=1)
    fired = sorted(p for p in WINDOWS if (cluster.faults_dir / p).exists())
    assert fired == sorted(WINDOWS), f"points never reached: {set(WINDOWS) - set(fired)}"
    check_identical(cluster, jobs, kinds, clean)


def _kill_at_random(cluster) -> None:
    time.sleep(random.uniform(5, 15))
    for hostname in list(cluster.workers):
        if hostname.startswith("transcribe") and cluster.alive(hostname):
            cluster.workers[hostname].kill()
            return
