"""A transcribe worker killed with SIGKILL mid-task: the job still completes, exactly once."""

from __future__ import annotations

import time

import pytest

from tests.audio_helpers import wer
from tests.bench import longaudio

pytestmark = pytest.mark.integration


def test_sigkill_mid_transcription_then_a_worker_returns(cluster, s3, tmp_path):
    path, text = longaudio.write(tmp_path / "speech.wav", 100.0)
    victim = next(h for h in cluster.workers if h.startswith("transcribe"))
    job_id = cluster.submit(path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = cluster.job(job_id)
        running = [
            s for s in job["stages"] if s["stage"] == "transcribe" and s["status"] == "running"
        ]
        if running:
            break
        time.sleep(0.1)
    assert running, f"the transcribe task never started: {job}"
    time.sleep(0.5)  # well inside the task: it takes several seconds
    cluster.kill(victim)
    assert cluster.job(job_id)["status"] == "running"

    # The replacement takes the victim's name: the shared cluster is left as it was found.
    replacement = cluster.start_worker("transcribe", name=victim.split("@")[0])
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
    # The same transcript as an uninterrupted run of the same file: nothing lost, nothing twice.
    again = cluster.wait(cluster.submit(path), timeout=180)
    assert again["status"] == "completed"
    assert job["text"] == again["text"]
    assert [(s["start"], s["end"]) for s in job["segments"]] == [
        (s["start"], s["end"]) for s in again["segments"]
    ]
    assert wer(text, job["text"]) <= 0.3, "the transcript is the speech in the file"
    assert len(job["words"]) == len({(w["start"], w["text"]) for w in job["words"]})
