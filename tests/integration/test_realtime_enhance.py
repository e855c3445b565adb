"""``enhance=true``: a finished realtime session's stored audio becomes a batch job.

The whole distributed system: the realtime worker process on the Redis relay (the
``realtime`` fixture), the Celery stage workers, PostgreSQL and moto S3 (``cluster``), and
an API on both. The session ends, ``session.end`` names a job, the job completes with
speakers and aligned words, and the session row links to it.
"""

from __future__ import annotations

import json

import requests

from dalston import audio
from tests.realtime_helpers import NativeClient, pcm16, wait_for_workers


def test_enhance_runs_a_batch_job_on_the_session_audio(cluster, realtime, fixtures_dir, s3):
    api = realtime.api(**cluster.settings)
    wait_for_workers(api.relay, 1)
    data = pcm16(audio.decode(fixtures_dir / "jfk.flac").mono)
    client = NativeClient(api.ws + "/v1/audio/transcriptions/stream?enhance=true")
    begin = client.recv()
    for i in range(0, len(data), 32000):
        client.ws.send(data[i : i + 32000])
    client.ws.send(json.dumps({"type": "end"}))
    end = client.until("session.end", timeout=300)
    sid, job_id = begin["session_id"], end["enhance_job_id"]
    assert job_id, end
    assert s3(f"realtime/{sid}/") == [
        f"realtime/{sid}/audio.wav",
        f"realtime/{sid}/transcript.json",
    ]

    job = cluster.wait(job_id, timeout=600)
    assert job["status"] == "completed", job
    assert job["speakers"] and all(s["id"] for s in job["speakers"])
    assert job["words"] and {w["timing"] for w in job["words"]} <= {
        "forced_alignment",
        "whisper",
    }
    assert any(w["timing"] == "forced_alignment" for w in job["words"])
    assert all(w.get("speaker") for w in job["words"]), job["words"][:3]

    row = requests.get(f"{api.http}/v1/realtime/sessions/{sid}", timeout=30).json()
    assert row["enhance_job_id"] == job_id and row["status"] == "completed"
