"""Request fields that choose engines: align_engine and transcribe_engine.

Unknown names are refused at the edge with the API's one error shape; known names are
stored with the job so the workers can read them.
"""

from __future__ import annotations

import pytest

from tests.api.test_jobs import URL, assert_error, post
from tests.audio_helpers import load, write_wav


@pytest.fixture(scope="module")
def jfk_wav(fixtures_dir, tmp_path_factory):
    return write_wav(
        load(fixtures_dir / "jfk.flac"), tmp_path_factory.mktemp("a") / "jfk.wav"
    ).read_bytes()


@pytest.mark.parametrize(
    "field, value",
    [
        ("align_engine", "magic"),
        ("align_engine", "fake"),
        ("transcribe_engine", "whisperx"),
        ("transcribe_engine", "fake"),
    ],
)
def test_unknown_engine_names_are_refused(client, jfk_wav, field, value):
    resp = post(client, jfk_wav, **{field: value})
    assert_error(resp, 422, "unknown_engine", field)
    assert value in resp.get_json()["error"]["message"]


def test_whisperx_full_takes_no_per_channel_jobs(client, fixtures_dir):
    stereo = (fixtures_dir / "stereo_diarization.wav").read_bytes()
    assert_error(
        post(client, stereo, transcribe_engine="whisperx-full", speaker_detection="per_channel"),
        422,
        "unsupported_option",
        "speaker_detection",
    )


def test_engine_choices_are_stored_with_the_job(client, jfk_wav):
    resp = post(
        client,
        jfk_wav,
        model="tiny.en",
        align_engine="whisperx",
        transcribe_engine="whisperx-full",
        speaker_detection="diarize",
        diarize_engine="pyannote",
    )
    assert resp.status_code == 201, resp.get_json()
    job = client.get(f"{URL}/{resp.get_json()['id']}").get_json()
    options = job["options"]
    assert (options["align_engine"], options["transcribe_engine"], options["diarize_engine"]) == (
        "whisperx",
        "whisperx-full",
        "pyannote",
    )
    assert job["progress"] == 0 and job["stages"][0]["stage"] == "prepare"


def test_defaults(client, jfk_wav):
    resp = post(client, jfk_wav, model="tiny.en")
    options = client.get(f"{URL}/{resp.get_json()['id']}").get_json()["options"]
    assert options["transcribe_engine"] == "faster_whisper" and options["align_engine"] is None
