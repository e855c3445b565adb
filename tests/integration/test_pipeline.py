"""Distributed mode for real: Redis broker, PostgreSQL, moto S3, one worker process per queue,
the API over HTTP, the real tiny.en model."""

from __future__ import annotations

import http.server
import json
import threading
import time

import numpy as np
import pytest
import requests
import sqlalchemy as sa

import celeryconfig
from dalston.db import queries
from dalston.db.models import Job, StageRun
from dalston.db.session import session_scope
from tests.audio_helpers import JFK_TEXT, encode, load, silence, wer, write_wav

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jfk(fixtures_dir):
    return load(fixtures_dir / "jfk.flac")


def _rows(postgres_url, job_id):
    with session_scope(postgres_url) as session:
        job = session.get(Job, job_id)
        runs = session.scalars(
            sa.select(StageRun)
            .where(StageRun.job_id == job_id)
            .order_by(StageRun.stage, StageRun.part)
        ).all()
        return job, [
            (r.stage, r.part, r.status, r.worker, r.attempts, r.started_at, r.completed_at)
            for r in runs
        ]


def _object(cluster, key: str) -> bytes:
    import boto3

    client = boto3.client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1")
    return client.get_object(Bucket=cluster.bucket, Key=key)["Body"].read()


def _check_completed(cluster, s3, postgres_url, job_id, reference=None, max_wer=0.10):
    job = cluster.wait(job_id)
    assert job["status"] == "completed", job
    if reference is not None:
        assert wer(reference, job["text"]) <= max_wer, job["text"]
    assert job["progress"] == 100 and job["error"] is None
    row, runs = _rows(postgres_url, job_id)
    assert row.status == "completed" and row.result["text"] == job["text"]
    stages = {(stage, part) for stage, part, *_ in runs}
    assert ("prepare", 0) in stages and ("merge", 0) in stages
    for stage, part, status, worker, attempts, started, completed in runs:
        assert status == "completed", (stage, part, status)
        assert worker and worker.startswith(stage), f"{stage} ran on {worker}"
        assert attempts == 1 and started <= completed
    expected = {
        f"jobs/{job_id}/input/source",
        f"jobs/{job_id}/prepare/manifest.json",
        f"jobs/{job_id}/merge/transcript.json",
    }
    keys = set(s3(f"jobs/{job_id}/"))
    assert expected <= keys, expected - keys
    # The prepared audio: prepare/audio.wav, or the source when it was that WAV already.
    audio_key = json.loads(_object(cluster, f"jobs/{job_id}/prepare/manifest.json"))["audio_key"]
    assert audio_key in keys and audio_key in (
        f"jobs/{job_id}/prepare/audio.wav",
        f"jobs/{job_id}/input/source",
    )
    chunks = [k for k in keys if "/prepare/chunks/" in k]
    assert not [k for k in keys if "/transcribe/" in k or "/align/" in k]  # rows hold them
    n_chunks = len([s for s in stages if s[0] == "transcribe"])
    with session_scope(postgres_url) as session:
        outputs = queries.stage_outputs(session, job_id, "transcribe")
    assert sorted(outputs) == list(range(n_chunks))
    assert all(o["index"] == part and "segments" in o for part, o in outputs.items())
    # One chunk that is the whole file is the prepared audio itself, not a copy of it.
    assert len(chunks) == (n_chunks if n_chunks > 1 else 0)
    return job


def test_flac_upload(cluster, s3, postgres_url, fixtures_dir):
    job_id = cluster.submit(fixtures_dir / "jfk.flac")
    job = _check_completed(cluster, s3, postgres_url, job_id, JFK_TEXT)
    assert job["language_code"] == "en" and job["model"] == "tiny.en"
    assert job["audio_duration_seconds"] == pytest.approx(11.0, abs=0.1)
    words = job["words"]
    assert len(words) >= 20 and all(w["start"] <= w["end"] for w in words)
    assert [s["id"] for s in job["segments"]] == list(range(len(job["segments"])))


@pytest.mark.parametrize("fmt", ["mp3", "ogg_opus"])
def test_compressed_uploads(cluster, s3, postgres_url, jfk, tmp_path, fmt):
    path = encode(jfk, tmp_path / f"jfk.{fmt.split('_')[0]}", fmt)
    _check_completed(cluster, s3, postgres_url, cluster.submit(path), JFK_TEXT)


def test_real_mp3_fixture(cluster, s3, postgres_url, fixtures_dir):
    job = _check_completed(cluster, s3, postgres_url, cluster.submit(fixtures_dir / "hotwords.mp3"))
    assert job["text"].strip(), "speech in the mp3 is transcribed"


def test_stereo_wav_is_downmixed_and_channels_kept(cluster, s3, postgres_url, fixtures_dir):
    job_id = cluster.submit(
        fixtures_dir / "stereo_diarization.wav", timestamps_granularity="segment"
    )
    job = _check_completed(cluster, s3, postgres_url, job_id)
    # Both speakers talk at once in the downmix; the louder left channel is what comes out.
    assert "behind the curtain on the left" in job["text"].lower(), job["text"]
    assert job["words"] == [] and job["segments"], "segment granularity: segments without words"
    keys = s3(f"jobs/{job_id}/prepare/")
    assert (
        f"jobs/{job_id}/prepare/channel_0.wav" in keys
        and f"jobs/{job_id}/prepare/channel_1.wav" in keys
    )


def test_silence_completes_with_an_empty_transcript(cluster, s3, postgres_url, tmp_path):
    path = write_wav(silence(2.0), tmp_path / "silence.wav")
    job = cluster.wait(cluster.submit(path))
    assert job["status"] == "completed", job
    assert job["text"] == "" and job["segments"] == [] and job["words"] == []
    assert "no speech was found in the audio" in job["warnings"]


def test_truncated_wav_completes_with_a_warning(cluster, jfk, tmp_path):
    data = write_wav(jfk, tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: int(len(data) * 0.6)])
    job = cluster.wait(cluster.submit(tmp_path / "cut.wav"))
    assert job["status"] == "completed", job
    assert any("ends early" in w for w in job["warnings"]), job["warnings"]
    assert "fellow americans" in job["text"].lower()


def test_model_without_weights_fails_the_job_with_advice(cluster, fixtures_dir):
    job = cluster.wait(cluster.submit(fixtures_dir / "jfk.flac", model="large-v3"))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "model_not_available"
    assert "large-v3" in job["error"]["message"] and "DALSTON_MODEL_DIR" in job["error"]["message"]
    failed = [s for s in job["stages"] if s["status"] == "failed"]
    assert failed and failed[0]["stage"] == "transcribe" and failed[0]["error"]


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server for audio_url tests."""

    def handler(*a, **k):
        return http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_audio_url_to_a_loopback_address_is_refused(cluster, http_server):
    directory, base = http_server
    resp = requests.post(
        cluster.url("/v1/audio/transcriptions"), data={"audio_url": f"{base}/x.wav"}, timeout=30
    )
    assert resp.status_code == 400
    assert (
        resp.json()["error"]["code"] == "url_not_allowed"
        and resp.json()["error"]["field"] == "audio_url"
    )


def test_cancel_running_job_then_delete_it(cluster, s3, jfk, tmp_path):
    # Eight minutes: long enough that it is still running when cancelled on a fast machine
    # (two and a half minutes once finished between the status read and the cancel).
    long = np.concatenate([np.concatenate([jfk, silence(1.0)]) for _ in range(40)])
    job_id = cluster.submit(write_wav(long, tmp_path / "long.wav"))
    cluster.wait(job_id, until=("running",) + ("completed", "failed", "cancelled"))
    resp = requests.delete(cluster.url(f"/v1/audio/transcriptions/{job_id}"), timeout=30)
    if cluster.job(job_id)["status"] == "running":
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "job_not_terminal"
    resp = requests.post(cluster.url(f"/v1/audio/transcriptions/{job_id}/cancel"), timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled"
    job = cluster.job(job_id)
    assert job["status"] == "cancelled"
    assert all(s["status"] in ("completed", "cancelled") for s in job["stages"])
    again = requests.post(cluster.url(f"/v1/audio/transcriptions/{job_id}/cancel"), timeout=30)
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_not_cancellable"
    # The workers survive and stay ready for the next job.
    cluster.wait_for_workers(list(cluster.workers), timeout=30)
    resp = requests.delete(cluster.url(f"/v1/audio/transcriptions/{job_id}"), timeout=30)
    assert resp.status_code == 204
    assert (
        requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}"), timeout=30).status_code
        == 404
    )
    # Every object of the job goes, even those a task still finishing writes after the delete.
    deadline = time.monotonic() + 30
    while s3(f"jobs/{job_id}/") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert s3(f"jobs/{job_id}/") == []


def test_delete_completed_job_removes_rows_and_objects(cluster, s3, postgres_url, fixtures_dir):
    job_id = cluster.submit(fixtures_dir / "jfk.flac", timestamps_granularity="none")
    assert cluster.wait(job_id)["status"] == "completed"
    assert s3(f"jobs/{job_id}/")
    assert (
        requests.delete(cluster.url(f"/v1/audio/transcriptions/{job_id}"), timeout=30).status_code
        == 204
    )
    assert s3(f"jobs/{job_id}/") == []
    job, runs = _rows(postgres_url, job_id)
    assert job is None and runs == []


def test_exports(cluster, fixtures_dir):
    job_id = cluster.submit(fixtures_dir / "jfk.flac")
    assert cluster.wait(job_id)["status"] == "completed"
    srt = requests.get(
        cluster.url(f"/v1/audio/transcriptions/{job_id}/export/srt"),
        params={"max_line_length": 20, "max_lines": 1},
        timeout=30,
    )
    assert srt.status_code == 200 and srt.headers["Content-Type"].startswith("application/x-subrip")
    lines = [ln for ln in srt.text.splitlines() if ln and "-->" not in ln and not ln.isdigit()]
    assert lines and all(len(ln) <= 20 for ln in lines)
    vtt = requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}/export/vtt"), timeout=30)
    assert vtt.text.startswith("WEBVTT")
    txt = requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}/export/txt"), timeout=30)
    assert wer(JFK_TEXT, txt.text) <= 0.10
    bad = requests.get(
        cluster.url(f"/v1/audio/transcriptions/{job_id}/export/srt"),
        params={"max_lines": 0},
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "max_lines"
    assert (
        requests.get(
            cluster.url(f"/v1/audio/transcriptions/{job_id}/export/doc"), timeout=30
        ).status_code
        == 404
    )


def test_list_with_cursor_pagination(cluster, fixtures_dir):
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests.get(
            cluster.url("/v1/audio/transcriptions"), params=params, timeout=30
        ).json()
        seen.extend(j["id"] for j in page["jobs"])
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert len(seen) == len(set(seen)) >= 3
    completed = requests.get(
        cluster.url("/v1/audio/transcriptions"), params={"status": "completed"}, timeout=30
    ).json()
    assert completed["jobs"] and all(j["status"] == "completed" for j in completed["jobs"])


def test_system_status_shows_queues_and_workers(cluster):
    body = requests.get(cluster.url("/v1/system/status"), timeout=30).json()
    assert body["status"] == "ok", body
    assert (
        body["database"]["ok"]
        and body["broker"]["ok"]
        and body["storage"] == {"ok": True, "kind": "s3"}
    )
    queues = {q["name"]: q for q in body["queues"]}
    assert set(queues) == set(celeryconfig.STAGE_QUEUES + celeryconfig.OTHER_QUEUES)
    # Failed jobs above (bad audio, missing model) left every worker alive.
    assert all(cluster.alive(w) for w in cluster.workers)
    for name, queue in queues.items():
        assert any(w.startswith(name) and w.endswith("@test") for w in queue["workers"]), queue
        assert isinstance(queue["depth"], int) and queue["depth"] >= 0


def test_word_timestamps_are_force_aligned(cluster, tmp_path):
    from tests.audio_helpers import timed_words, timing_errors

    samples, truth = timed_words(tmp_path)
    job = cluster.wait(cluster.submit(write_wav(samples, tmp_path / "timed.wav")))
    assert job["status"] == "completed", job
    aligned = [s for s in job["stages"] if s["stage"] == "align"]
    assert aligned and all(
        s["worker"].startswith("align") and s["status"] == "completed" for s in aligned
    )
    assert {w["timing"] for w in job["words"]} <= {"forced_alignment", "whisper"}
    start, end, matched = timing_errors(job["words"], truth)
    assert matched >= 0.85 * len(truth) and start <= 0.05 and end <= 0.05, (start, end, matched)


def test_long_poll_answers_once_the_job_has_ended(cluster, fixtures_dir):
    """``GET …/{id}?wait=S``: the answer waits for the job's end, not for S seconds."""
    job_id = cluster.submit(fixtures_dir / "jfk.flac", timestamps_granularity="segment")
    url = cluster.url(f"/v1/audio/transcriptions/{job_id}")
    job = requests.get(url, params={"wait": 60}, timeout=90).json()
    assert job["status"] == "completed", job
    assert "ask not what your country" in job["text"].lower()
    # An ended job answers at once; a bad wait is refused with the native error shape.
    assert requests.get(url, params={"wait": 60}, timeout=5).json()["status"] == "completed"
    for bad in ("-1", "61", "soon"):
        resp = requests.get(url, params={"wait": bad}, timeout=30)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "validation_error"
