"""A transcribe worker killed with SIGKILL mid-task: the job still completes, exactly once."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from tests.audio_helpers import load, silence, write_wav

pytestmark = pytest.mark.integration


def test_sigkill_mid_transcription_then_a_worker_returns(cluster, s3, fixtures_dir, tmp_path):
    jfk = load(fixtures_dir / "jfk.flac")
    repeats = 8
    path = write_wav(np.concatenate([np.concatenate([jfk, silence(1.0)]) for _ in range(repeats)]),
                     tmp_path / "eight-times.wav")
    victim = next(h for h in cluster.workers if h.startswith("transcribe"))
    job_id = cluster.submit(path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = cluster.job(job_id)
        running = [s for s in job["stages"] if s["stage"] == "transcribe" and s["status"] == "running"]
        if running:
            break
        time.sleep(0.1)
    assert running, f"the transcribe task never started: {job}"
    time.sleep(0.5)  # well inside the task: it takes several seconds
    cluster.kill(victim)
    assert cluster.job(job_id)["status"] == "running"

    replacement = cluster.start_worker("transcribe", name="transcribe-2")
    cluster.wait_for_workers([replacement], timeout=60)
    job = cluster.wait(job_id, timeout=180)
    assert job["status"] == "completed", job
    (chunk,) = [s for s in job["stages"] if s["stage"] == "transcribe"]
    assert chunk["attempts"] == 2 and chunk["worker"] == replacement, chunk
    # Exactly one transcript, no duplicated segments.
    assert s3(f"jobs/{job_id}/merge/transcript.json") == [f"jobs/{job_id}/merge/transcript.json"]
    segments = job["segments"]
    for a, b in zip(segments, segments[1:]):
        assert b["start"] >= a["end"] - 0.05, f"overlapping segments {a} / {b}"
    said = len(re.findall(r"ask not what your country", job["text"].lower()))
    assert repeats - 1 <= said <= repeats, job["text"]
    assert len(job["words"]) == len({(w["start"], w["text"]) for w in job["words"]})
