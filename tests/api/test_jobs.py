"""Bad input gets a clear 4xx in one error shape; good input is stored and queued."""

from __future__ import annotations

import io
import uuid

import pytest

from dalston.db.models import Job
from dalston.db.session import session_scope
from tests.audio_helpers import load, write_wav

URL = "/v1/audio/transcriptions"
#: Native clients opt in to the asynchronous API (the path is shared with OpenAI's).
NATIVE = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def jfk_wav(fixtures_dir, tmp_path_factory):
    return write_wav(
        load(fixtures_dir / "jfk.flac"), tmp_path_factory.mktemp("a") / "jfk.wav"
    ).read_bytes()


def post(client, content: bytes | None = None, name: str = "audio.wav", **form):
    data = dict(form)
    if content is not None:
        data["file"] = (io.BytesIO(content), name)
    return client.post(URL, data=data, content_type="multipart/form-data", headers=NATIVE)


def assert_error(resp, status: int, code: str, field: str | None = None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    if field:
        assert body["error"]["field"] == field


def test_valid_upload_is_stored_and_queued(client, app, jfk_wav):
    resp = post(
        client, jfk_wav, model="tiny.en", vocabulary='["Kennedy", "Americans"]', beam_size="3"
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"id", "status", "created_at"} and body["status"] == "pending"
    svc = app.extensions["dalston"]
    assert svc.store.get_bytes(f"jobs/{body['id']}/input/source") == jfk_wav
    job = client.get(f"{URL}/{body['id']}").get_json()
    assert (
        job["options"]["vocabulary"] == ["Kennedy", "Americans"]
        and job["options"]["beam_size"] == 3
    )
    assert job["stages"][0]["stage"] == "prepare"


def test_empty_file(client):
    assert_error(post(client, b""), 400, "empty_file", "file")


def test_text_renamed_wav(client):
    assert_error(
        post(client, b"Just some notes, not audio.\n" * 40, "notes.wav"),
        415,
        "unsupported_media_type",
        "file",
    )


def test_truncated_wav_header(client, jfk_wav):
    assert_error(post(client, jfk_wav[:30], "cut.wav"), 415, "unsupported_media_type", "file")


def test_wav_truncated_to_almost_nothing(client, jfk_wav):
    assert_error(post(client, jfk_wav[:60], "cut.wav"), 400, "audio_too_short", "file")


def test_file_over_the_size_limit(client):
    resp = post(client, b"\x00" * (6 * 1024 * 1024), "big.wav")
    assert_error(resp, 413, "file_too_large")
    assert "5 MB" in resp.get_json()["error"]["message"]


def test_unknown_model(client, jfk_wav):
    assert_error(
        post(client, jfk_wav, model="nonexistent-model-xyz"), 422, "unknown_model", "model"
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("timestamps_granularity", "phoneme"),
        ("num_speakers", "0"),
        ("num_speakers", "many"),
        ("max_speakers", "33"),
        ("speaker_detection", "everyone"),
        ("temperature", "1.5"),
        ("beam_size", "0"),
        ("language", "klingon"),
        ("vocabulary", "[not json"),
        ("vocabulary", '["' + "x" * 51 + '"]'),
        ("audio_url", "ftp://example.com/a.wav"),
    ],
)
def test_invalid_options(client, jfk_wav, field, value):
    assert_error(post(client, jfk_wav, **{field: value}), 422, "validation_error", field)


def test_num_speakers_outside_min_max(client, jfk_wav):
    assert_error(
        post(client, jfk_wav, num_speakers="5", max_speakers="3"),
        422,
        "validation_error",
        "num_speakers",
    )


def test_per_channel_on_mono_audio(client, jfk_wav):
    assert_error(
        post(client, jfk_wav, speaker_detection="per_channel"),
        422,
        "unsupported_option",
        "speaker_detection",
    )


def test_num_speakers_with_per_channel(client, fixtures_dir):
    stereo = (fixtures_dir / "stereo_diarization.wav").read_bytes()
    assert_error(
        post(client, stereo, speaker_detection="per_channel", num_speakers="2"),
        422,
        "validation_error",
        "num_speakers",
    )


def test_unknown_diarize_engine(client, jfk_wav):
    assert_error(
        post(client, jfk_wav, speaker_detection="diarize", diarize_engine="nope"),
        422,
        "unknown_engine",
        "diarize_engine",
    )


def test_min_speakers_above_max(client, jfk_wav):
    assert_error(
        post(client, jfk_wav, min_speakers="4", max_speakers="2"),
        422,
        "validation_error",
        "min_speakers",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.wav",
        "http://10.1.2.3/a.wav",
        "http://localhost:9000/a",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/a.wav",
        "http://192.168.0.10/a.mp3",
    ],
)
def test_audio_url_to_private_address(client, url):
    assert_error(post(client, audio_url=url), 400, "url_not_allowed", "audio_url")


def test_file_and_audio_url_together(client, jfk_wav):
    assert_error(
        post(client, jfk_wav, audio_url="https://example.com/a.wav"), 400, "conflicting_input"
    )


def test_no_audio_at_all(client):
    assert_error(post(client), 400, "missing_input", "file")


@pytest.mark.parametrize(
    "method,suffix", [("get", ""), ("post", "/cancel"), ("delete", ""), ("get", "/export/txt")]
)
def test_unknown_job_id(client, method, suffix):
    resp = getattr(client, method)(f"{URL}/{uuid.uuid4()}{suffix}")
    assert_error(resp, 404, "job_not_found")


def _job_row(postgres_url, status: str) -> str:
    job_id = str(uuid.uuid4())
    with session_scope(postgres_url) as session:
        session.add(Job(id=job_id, status=status, model="tiny.en", options={"model": "tiny.en"}))
    return job_id


def test_delete_running_job_is_refused(client, postgres_url):
    job_id = _job_row(postgres_url, "running")
    assert_error(client.delete(f"{URL}/{job_id}"), 409, "job_not_terminal")
    assert client.get(f"{URL}/{job_id}").status_code == 200


def test_cancel_finished_job_is_refused(client, postgres_url):
    assert_error(
        client.post(f"{URL}/{_job_row(postgres_url, 'completed')}/cancel"),
        409,
        "job_not_cancellable",
    )


def test_export_before_completion(client, postgres_url):
    assert_error(
        client.get(f"{URL}/{_job_row(postgres_url, 'running')}/export/srt"),
        409,
        "job_not_completed",
    )


def test_bad_cursor_and_list_limits(client):
    assert_error(client.get(URL, query_string={"cursor": "!!!"}), 400, "invalid_cursor", "cursor")
    assert_error(client.get(URL, query_string={"limit": "500"}), 422, "validation_error", "limit")
    assert_error(
        client.get(URL, query_string={"status": "lost"}), 422, "validation_error", "status"
    )


def test_unknown_route_and_method_use_the_error_shape(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.put(URL), 405, "method_not_allowed")


def test_health_models_and_openapi(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    models = client.get("/v1/models").get_json()
    ready = {m["id"]: m["ready"] for m in models["models"]}
    assert (
        models["default"] == "tiny.en"
        and ready["tiny.en"]
        and ready["base"]
        and not ready["large-v3"]
    )
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/v1/audio/transcriptions",
        "/v1/audio/transcriptions/{job_id}",
        "/v1/audio/transcriptions/{job_id}/export/{format}",
    } <= set(spec["paths"])
    form = spec["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]
    assert {"file", "model", "timestamps_granularity", "num_speakers"} <= set(
        form["schema"]["properties"]
    )
    assert "Job" in spec["components"]["schemas"]
