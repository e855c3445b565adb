"""Webhooks, retention and metrics on the real cluster (issue 10, acceptance 4–6).

Worker processes on the real Redis broker, PostgreSQL, moto's S3 server, the real tiny.en
model, the loopback receiver of ``tests/webhook_receiver.py``. The cluster allows the
receiver by the name ``localhost`` (``DALSTON_WEBHOOK_ALLOW_HOSTS``) while its address,
127.0.0.1, stays refused like every private address, so a redirect from the one to the
other shows the guard at delivery time. Signatures are checked with the
``standardwebhooks`` package, the way a receiver would.
"""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook

from dalston.db.models import Job, StageRun, WebhookDelivery, WebhookEndpoint
from dalston.db.session import session_scope

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jfk(fixtures_dir):
    return fixtures_dir / "jfk.flac"


def _submit(cluster, path, **data) -> requests.Response:
    with open(path, "rb") as fh:
        return requests.post(
            cluster.url("/v1/audio/transcriptions"),
            files={"file": (path.name, fh)},
            data=data,
            headers={"Prefer": "respond-async"},
            timeout=60,
        )


def _deliveries(cluster, job_id) -> list[dict]:
    resp = requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}/webhooks"), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["deliveries"]


def _until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def _final_delivery(cluster, job_id, endpoint_id=None):
    def done():
        rows = [
            d
            for d in _deliveries(cluster, job_id)
            if endpoint_id is None or d["endpoint_id"] == endpoint_id
        ]
        return rows if rows and rows[-1]["outcome"] != "retrying" else None

    return _until(done, what=f"a final webhook delivery of job {job_id}")


def _headers(received: dict) -> dict:
    return {k.lower(): v for k, v in received["headers"].items()}


def test_completion_reaches_the_receiver_with_a_valid_signature(cluster, webhook_receiver, jfk):
    path = f"/native/{uuid.uuid4().hex}"
    resp = _submit(cluster, jfk, webhook_url=webhook_receiver.allowed_base + path)
    assert resp.status_code == 201, resp.text
    job_id, secret = resp.json()["id"], resp.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    assert cluster.wait(job_id)["status"] == "completed"
    received = webhook_receiver.wait_for(lambda r: r["path"] == path, timeout=60)
    event = Webhook(secret).verify(received["body"], _headers(received))
    assert event["type"] == "transcription.completed"
    assert event["data"]["id"] == job_id and "country" in event["data"]["text"].lower()
    (row,) = _final_delivery(cluster, job_id)
    assert (row["attempt"], row["outcome"], row["status_code"]) == (1, "delivered", 200)
    assert row["message_id"] == _headers(received)["webhook-id"]
    # The job's own secret is not shown again.
    assert "webhook_secret" not in cluster.job(job_id)


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt(
    cluster, webhook_receiver, jfk
):
    path = f"/registered/{uuid.uuid4().hex}"
    webhook_receiver.script(path, [500, 503, 500])
    created = requests.post(
        cluster.url("/v1/webhooks"),
        json={"url": webhook_receiver.allowed_base + path, "events": ["transcription.completed"]},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    try:
        listed = requests.get(cluster.url("/v1/webhooks"), timeout=30).json()["webhooks"]
        (mine,) = [w for w in listed if w["id"] == endpoint["id"]]
        assert "secret" not in mine
        resp = _submit(cluster, jfk)
        assert resp.status_code == 201, resp.text
        job_id = resp.json()["id"]
        assert cluster.wait(job_id)["status"] == "completed"
        rows = _final_delivery(cluster, job_id, endpoint["id"])
        assert [r["attempt"] for r in rows] == [1, 2, 3, 4]
        assert [r["outcome"] for r in rows] == ["retrying"] * 3 + ["delivered"]
        assert [r["status_code"] for r in rows] == [500, 503, 500, 200]
        assert all(r["next_retry_at"] for r in rows[:3]) and rows[3]["next_retry_at"] is None
        assert len({r["message_id"] for r in rows}) == 1
        got = webhook_receiver.to(path)
        assert [g["answered"] for g in got] == [500, 503, 500, 200]
        event = Webhook(endpoint["secret"]).verify(got[-1]["body"], _headers(got[-1]))
        assert event["data"]["id"] == job_id
    finally:
        assert requests.delete(cluster.url(f"/v1/webhooks/{endpoint['id']}"), timeout=30).ok
    assert (
        requests.get(cluster.url(f"/v1/webhooks/{endpoint['id']}"), timeout=30).status_code == 404
    )


def test_a_cancelled_job_sends_transcription_cancelled(cluster, webhook_receiver, jfk, tmp_path):
    import soundfile

    # Twenty minutes of speech: it cannot complete before the cancel that follows its submit,
    # so the cancel always lands (a short clip sometimes finished first).
    audio, rate = soundfile.read(jfk, dtype="int16")
    long_file = tmp_path / "jfk-20min.wav"
    soundfile.write(long_file, np.tile(audio, 110), rate)
    path = f"/cancelled/{uuid.uuid4().hex}"
    resp = _submit(cluster, long_file, webhook_url=webhook_receiver.allowed_base + path)
    job_id, secret = resp.json()["id"], resp.json()["webhook_secret"]
    cancel = requests.post(cluster.url(f"/v1/audio/transcriptions/{job_id}/cancel"), timeout=30)
    assert cancel.status_code == 200, cancel.text
    received = webhook_receiver.wait_for(lambda r: r["path"] == path, timeout=60)
    event = Webhook(secret).verify(received["body"], _headers(received))
    assert event["type"] == "transcription.cancelled" and event["data"]["status"] == "cancelled"


def test_an_elevenlabs_webhook_id_chooses_the_registered_endpoint(cluster, webhook_receiver, jfk):
    from elevenlabs.client import ElevenLabs

    path = f"/elevenlabs/{uuid.uuid4().hex}"
    endpoint = requests.post(
        cluster.url("/v1/webhooks"), json={"url": webhook_receiver.allowed_base + path}, timeout=30
    ).json()
    try:
        with open(jfk, "rb") as fh:
            resp = requests.post(
                cluster.url("/v1/speech-to-text"),
                files={"file": ("jfk.flac", fh)},
                data={"model_id": "scribe_v1", "webhook": "true", "webhook_id": endpoint["id"]},
                timeout=60,
            )
        assert resp.status_code == 200, resp.text
        job_id = resp.json()["transcription_id"]
        received = webhook_receiver.wait_for(lambda r: r["path"] == path, timeout=90)
        client = ElevenLabs(api_key="unused", base_url=cluster.base_url)
        event = client.webhooks.construct_event(
            received["body"].decode(),
            received["headers"]["ElevenLabs-Signature"],
            endpoint["secret"],
        )
        assert event["data"]["transcription_id"] == job_id
        (row,) = _final_delivery(cluster, job_id)
        assert row["endpoint_id"] == endpoint["id"] and row["outcome"] == "delivered"
        unknown = requests.post(
            cluster.url("/v1/speech-to-text"),
            data={"model_id": "scribe_v1", "webhook": "true", "webhook_id": "nope"},
            files={"file": ("jfk.flac", open(jfk, "rb"))},
            timeout=60,
        )
        assert unknown.status_code == 400, unknown.text
    finally:
        requests.delete(cluster.url(f"/v1/webhooks/{endpoint['id']}"), timeout=30)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/h", "http://10.0.0.5/h", "http://169.254.169.254/latest/meta-data"]
)
def test_a_webhook_url_to_a_private_address_is_refused_at_submit(cluster, jfk, url):
    resp = _submit(cluster, jfk, webhook_url=url)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "url_not_allowed" and error["field"] == "webhook_url"
    resp = requests.post(cluster.url("/v1/webhooks"), json={"url": url}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "url_not_allowed"


def test_a_redirect_to_a_private_address_is_refused_at_delivery(cluster, webhook_receiver, jfk):
    path, inside = f"/hop/{uuid.uuid4().hex}", f"/inside/{uuid.uuid4().hex}"
    webhook_receiver.script(path, [("redirect", 307, webhook_receiver.loopback_base + inside)])
    resp = _submit(cluster, jfk, webhook_url=webhook_receiver.allowed_base + path)
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    assert cluster.wait(job_id)["status"] == "completed"
    (row,) = _final_delivery(cluster, job_id)
    assert row["outcome"] == "refused" and "private" in row["error"], row
    assert len(webhook_receiver.to(path)) == 1 and webhook_receiver.to(inside) == []


def test_retention_0_leaves_no_audio_or_artifacts_and_the_audio_answers_410(cluster, s3, jfk):
    resp = _submit(cluster, jfk, retention="0")
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    assert cluster.wait(job_id)["status"] == "completed"
    job = _until(lambda: (j := cluster.job(job_id))["purged_at"] and j, what="the purge")
    assert s3(f"jobs/{job_id}/") == []
    assert job["status"] == "completed" and job["retention"] == 0 and job["text"]
    audio = requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}/audio"), timeout=30)
    assert audio.status_code == 410 and audio.json()["error"]["code"] == "purged"
    # The transcript is kept (in the database): its exports still answer.
    txt = requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}/export/txt"), timeout=30)
    assert txt.status_code == 200 and "country" in txt.text.lower()


def test_the_beat_task_purges_a_job_past_its_retention(cluster, s3, postgres_url, jfk):
    from dalston.celery_app import app

    resp = _submit(cluster, jfk, retention="1")
    job_id = resp.json()["id"]
    job = cluster.wait(job_id)
    assert job["status"] == "completed" and job["purge_after"] and not job["purged_at"]
    assert f"jobs/{job_id}/prepare/audio.wav" in s3(f"jobs/{job_id}/")
    with session_scope(postgres_url) as session:  # a day later
        session.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(purge_after=sa.func.now() - sa.text("interval '1 minute'"))
        )
    result = app.send_task("dalston.retention.purge").get(timeout=60)
    assert result["purged"] >= 1
    assert s3(f"jobs/{job_id}/") == []
    job = cluster.job(job_id)
    assert job["status"] == "completed" and job["purged_at"] and job["text"]
    audio = requests.get(cluster.url(f"/v1/audio/transcriptions/{job_id}/audio"), timeout=30)
    assert audio.status_code == 410 and audio.json()["error"]["code"] == "purged"


def test_delete_removes_every_stored_object_and_row(
    cluster, s3, postgres_url, webhook_receiver, jfk
):
    path = f"/deleted/{uuid.uuid4().hex}"
    resp = _submit(
        cluster,
        jfk,
        speaker_detection="diarize",
        webhook_url=webhook_receiver.allowed_base + path,
    )
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    assert cluster.wait(job_id)["status"] == "completed"
    _final_delivery(cluster, job_id)
    stored = s3(f"jobs/{job_id}/")
    assert f"jobs/{job_id}/diarize/turns.json" in stored and f"jobs/{job_id}/input/source" in stored
    resp = requests.delete(cluster.url(f"/v1/audio/transcriptions/{job_id}"), timeout=30)
    assert resp.status_code == 204, resp.text
    assert s3(f"jobs/{job_id}/") == []
    with session_scope(postgres_url) as session:
        for model in (Job, StageRun, WebhookEndpoint, WebhookDelivery):
            column = Job.id if model is Job else model.job_id
            count = session.scalar(
                sa.select(sa.func.count()).select_from(model).where(column == job_id)
            )
            assert count == 0, f"{model.__tablename__} keeps {count} rows of the deleted job"


def _samples(cluster) -> dict[tuple, float]:
    resp = requests.get(cluster.url("/metrics"), timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def test_metrics_parse_and_move_as_a_job_runs_in_the_api_and_the_workers(cluster, jfk):
    created = ("dalston_jobs_total", (("family", "native"), ("status", "created")))
    completed = ("dalston_jobs_total", (("family", "native"), ("status", "completed")))
    transcribe = (
        "dalston_stage_duration_seconds_count",
        (("engine", "faster_whisper"), ("stage", "transcribe")),
    )
    rtf = (
        "dalston_stage_real_time_factor_count",
        (("engine", "faster_whisper"), ("stage", "transcribe")),
    )
    before = _samples(cluster)
    job_id = _submit(cluster, jfk).json()["id"]
    assert cluster.wait(job_id)["status"] == "completed"
    after = _until(
        lambda: (s := _samples(cluster)).get(completed, 0) > before.get(completed, 0) and s,
        what="the completed counter",
    )
    assert after[created] == before.get(created, 0) + 1  # the API's counter
    assert after[transcribe] > before.get(transcribe, 0)  # a worker's histogram
    assert after[rtf] > before.get(rtf, 0)
    for queue in ("prepare", "transcribe", "merge", "webhooks"):
        assert ("dalston_queue_length", (("queue", queue),)) in after
    assert ("dalston_realtime_active_sessions", ()) in after
    # No label names a tenant, a job or a URL.
    assert all(job_id not in str(key) for key in after)


def test_worker_logs_are_json_lines_carrying_the_job_id(cluster, jfk):
    job_id = _submit(cluster, jfk).json()["id"]
    assert cluster.wait(job_id)["status"] == "completed"
    merge_log = next(p for h, p in cluster.logs.items() if h.startswith("merge@"))
    lines = []
    for line in merge_log.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    mine = [r for r in lines if r.get("job_id") == job_id]
    assert mine and all({"ts", "level", "logger", "message", "task"} <= set(r) for r in mine)


def test_a_worker_serves_its_own_metrics_when_given_a_port(cluster, jfk):
    import socket

    job_id = _submit(cluster, jfk).json()["id"]  # so that stage histograms exist
    assert cluster.wait(job_id)["status"] == "completed"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    name = cluster.start_worker(
        "webhooks", name="webhooks-metrics", env={"DALSTON_WORKER_METRICS_PORT": str(port)}
    )
    try:
        cluster.wait_for_workers([name], timeout=90)
        text = _until(
            lambda: _get_text(f"http://127.0.0.1:{port}/metrics"), what="the worker's /metrics"
        )
        names = {f.name for f in text_string_to_metric_families(text)}
        # The run's shared multiprocess directory: the stage workers' histograms show here.
        assert "dalston_stage_duration_seconds" in names, sorted(names)
    finally:
        cluster.stop(name)


def _get_text(url: str) -> str | None:
    try:
        resp = requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None
    return resp.text if resp.status_code == 200 else None
