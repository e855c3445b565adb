"""The official ElevenLabs Python SDK (2.78.0) against Dalston, with real models.

The SDK parses leniently (api-compat.md §3.3), so every raw body is also validated with
the SDK's pydantic response models, which reject missing or null required fields.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
import requests

from tests.audio_helpers import wer
from tests.conftest import WEBHOOK_SECRET

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def raw_convert(eleven, **kwargs):
    """convert() through the raw-response client: the SDK model and the raw JSON body."""
    resp = eleven.speech_to_text.with_raw_response.convert(**kwargs)
    return resp.data, resp._response.json()


def strict(model_cls, body: dict):
    return model_cls.model_validate(body)


def test_convert_jfk(eleven, jfk):
    from elevenlabs import SpeechToTextChunkResponseModel

    result, body = raw_convert(eleven, model_id="scribe_v1", file=jfk.open("rb"))
    strict(SpeechToTextChunkResponseModel, body)
    assert wer(JFK, result.text) <= 0.10, result.text
    assert body["language_code"] == "eng" and 0 < body["language_probability"] <= 1
    assert body["transcription_id"] and body["audio_duration_secs"] == pytest.approx(11, abs=0.2)
    words = body["words"]
    assert {w["type"] for w in words} <= {"word", "spacing", "audio_event"}
    assert "".join(w["text"] for w in words) == body["text"]
    assert all(w["logprob"] <= 0 for w in words)
    real = [w for w in words if w["type"] == "word"]
    assert all(w["start"] <= w["end"] for w in real)
    assert all(a["end"] <= b["start"] + 0.05 for a, b in zip(real, real[1:]))
    assert all(w["type"] == "spacing" and w["text"] == " " for w in words[1::2])


def test_raw_bytes_upload_is_sniffed_from_content(eleven, jfk):
    """The SDK sends raw bytes as ``upload``/``application/octet-stream``."""
    result = eleven.speech_to_text.convert(model_id="scribe_v2", file=jfk.read_bytes())
    assert wer(JFK, result.text) <= 0.10


def test_diarize_two_voices(eleven, two_voices):
    from elevenlabs import SpeechToTextChunkResponseModel

    path, _truth = two_voices
    _result, body = raw_convert(eleven, model_id="scribe_v1", file=path.open("rb"), diarize=True)
    strict(SpeechToTextChunkResponseModel, body)
    speakers = {w["speaker_id"] for w in body["words"] if w["type"] == "word"}
    assert speakers == {"speaker_0", "speaker_1"}


def test_character_timestamps_lie_inside_their_word(eleven, jfk):
    from elevenlabs import SpeechToTextChunkResponseModel

    _result, body = raw_convert(
        eleven, model_id="scribe_v1", file=jfk.open("rb"), timestamps_granularity="character"
    )
    strict(SpeechToTextChunkResponseModel, body)
    for word in body["words"]:
        chars = word["characters"]
        assert "".join(c["text"] for c in chars) == word["text"]
        for c in chars:
            assert word["start"] - 1e-3 <= c["start"] <= c["end"] <= word["end"] + 1e-3, word


def test_granularity_none_keeps_a_word_list(eleven, jfk):
    from elevenlabs import SpeechToTextChunkResponseModel

    _result, body = raw_convert(
        eleven, model_id="scribe_v1", file=jfk.open("rb"), timestamps_granularity="none"
    )
    strict(SpeechToTextChunkResponseModel, body)
    assert body["words"] and all(w["start"] is None for w in body["words"])
    assert wer(JFK, body["text"]) <= 0.10


def test_transcripts_get_and_delete(eleven, jfk):
    from elevenlabs import SpeechToTextChunkResponseModel
    from elevenlabs.core.api_error import ApiError

    result = eleven.speech_to_text.convert(model_id="scribe_v1", file=jfk.open("rb"))
    got = eleven.speech_to_text.transcripts.get(result.transcription_id)
    assert got.text == result.text
    raw = requests.get(
        f"{eleven._client_wrapper.get_base_url()}/v1/speech-to-text/transcripts/"
        f"{result.transcription_id}",
        timeout=30,
    ).json()
    strict(SpeechToTextChunkResponseModel, raw)
    assert eleven.speech_to_text.transcripts.delete(result.transcription_id) is None
    with pytest.raises(ApiError) as err:
        eleven.speech_to_text.transcripts.get(result.transcription_id)
    assert err.value.status_code == 404


def test_multichannel_separate_and_combined(eleven, fixtures_dir):
    from elevenlabs import MultichannelSpeechToTextResponseModel, SpeechToTextChunkResponseModel

    stereo = fixtures_dir / "stereo_diarization.wav"
    _r, body = raw_convert(
        eleven, model_id="scribe_v1", file=stereo.open("rb"), use_multi_channel=True
    )
    strict(MultichannelSpeechToTextResponseModel, body)
    assert [t["channel_index"] for t in body["transcripts"]] == [0, 1]
    left, right = (t["text"] for t in body["transcripts"])
    assert wer("He began a confused complaint against the wizard, who had vanished behind the "
               "curtain on the left.", left) <= 0.2, left  # fmt: skip
    assert wer("The horizon seems extremely distant.", right) <= 0.2, right

    _r, body = raw_convert(
        eleven,
        model_id="scribe_v1",
        file=stereo.open("rb"),
        use_multi_channel=True,
        multichannel_output_style="combined",
    )
    strict(SpeechToTextChunkResponseModel, body)
    words = [w for w in body["words"] if w["type"] == "word"]
    assert {w["channel_index"] for w in words} == {0, 1}
    assert {w["speaker_id"] for w in words if w["channel_index"] == 1} == {"speaker_1"}


def test_pcm_s16le_16(eleven, jfk):
    from dalston import audio

    samples = audio.decode_file(jfk) if hasattr(audio, "decode_file") else None
    if samples is None:
        from tests.audio_helpers import load

        samples = load(jfk)
    pcm = (samples * 32767).clip(-32768, 32767).astype("<i2").tobytes()
    result = eleven.speech_to_text.convert(
        model_id="scribe_v1", file=io.BytesIO(pcm), file_format="pcm_s16le_16"
    )
    assert wer(JFK, result.text) <= 0.10


def test_webhook_is_acknowledged_then_delivered_signed(eleven, jfk, webhook_receiver):
    from elevenlabs import SpeechToTextWebhookResponseModel

    _r, body = raw_convert(
        eleven,
        model_id="scribe_v1",
        file=jfk.open("rb"),
        webhook=True,
        webhook_metadata={"job": "abc", "n": 1},
    )
    ack = strict(SpeechToTextWebhookResponseModel, body)
    delivery = webhook_receiver.wait_for(
        lambda d: json.loads(d["body"])["data"]["transcription_id"] == ack.transcription_id
    )
    event = eleven.webhooks.construct_event(
        delivery["body"].decode(), delivery["headers"]["ElevenLabs-Signature"], WEBHOOK_SECRET
    )
    assert event["type"] == "speech_to_text_transcription"
    assert event["data"]["webhook_metadata"] == {"job": "abc", "n": 1}
    assert wer(JFK, event["data"]["transcription"]["text"]) <= 0.10
    from elevenlabs import SpeechToTextChunkResponseModel

    strict(SpeechToTextChunkResponseModel, event["data"]["transcription"])
    with pytest.raises(Exception):
        eleven.webhooks.construct_event(
            delivery["body"].decode(), delivery["headers"]["ElevenLabs-Signature"], "wrong"
        )


@pytest.mark.parametrize("fmt", ["srt", "txt", "segmented_json", "html", "docx", "pdf"])
def test_additional_formats(eleven, jfk, fmt):
    from elevenlabs import SpeechToTextChunkResponseModel

    _r, body = raw_convert(
        eleven,
        model_id="scribe_v1",
        file=jfk.open("rb"),
        additional_formats=[{"format": fmt}],
    )
    strict(SpeechToTextChunkResponseModel, body)
    (item,) = body["additional_formats"]
    assert item["requested_format"] == fmt
    content = item["content"]
    if fmt in ("docx", "pdf"):
        assert item["is_base64_encoded"] is True
        data = base64.b64decode(content)
        if fmt == "docx":
            import docx

            text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
        else:
            import pypdf

            text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    else:
        assert item["is_base64_encoded"] is False
        text = content
    assert "fellow Americans" in text.replace("\n", " ")


def test_enable_logging_false_keeps_nothing(eleven, jfk, cluster, s3):
    result = eleven.speech_to_text.convert(
        model_id="scribe_v1", file=jfk.open("rb"), enable_logging=False
    )
    assert wer(JFK, result.text) <= 0.10
    resp = requests.get(
        cluster.url(f"/v1/speech-to-text/transcripts/{result.transcription_id}"), timeout=30
    )
    assert resp.status_code == 404
    assert s3(f"jobs/{result.transcription_id}/") == []


def _el_error(call):
    from elevenlabs.core.api_error import ApiError

    with pytest.raises(ApiError) as err:
        call()
    return err.value.status_code, err.value.body["detail"]


def test_bad_input_gets_the_elevenlabs_error_shape(eleven, jfk, tmp_path):
    convert = eleven.speech_to_text.convert
    status, detail = _el_error(lambda: convert(model_id="", file=jfk.open("rb")))
    assert (status, detail["code"], detail["param"]) == (400, "missing_model_id", "model_id")
    status, detail = _el_error(lambda: convert(model_id="scribe_v9", file=jfk.open("rb")))
    assert (status, detail["code"]) == (400, "invalid_model_id")
    assert detail["type"] == "validation_error" and detail["status"] == detail["code"]
    assert detail["request_id"]
    status, detail = _el_error(
        lambda: convert(
            model_id="scribe_v1", file=jfk.open("rb"), cloud_storage_url="https://x.example/a.mp3"
        )
    )
    assert status == 400 and detail["param"] in ("file", "cloud_storage_url")
    status, detail = _el_error(
        lambda: convert(
            model_id="scribe_v1", file=jfk.open("rb"), diarize=True, use_multi_channel=True
        )
    )
    assert status == 400 and detail["param"] == "diarize"
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all")
    status, detail = _el_error(lambda: convert(model_id="scribe_v1", file=text.open("rb")))
    assert (status, detail["code"], detail["param"]) == (400, "unsupported_media_type", "file")
    status, detail = _el_error(
        lambda: convert(model_id="scribe_v1", source_url="http://127.0.0.1:9/a.mp3")
    )
    assert (status, detail["code"]) == (400, "url_not_allowed")


def test_malformed_additional_formats_json(cluster, jfk):
    """Sent by hand: the SDKs serialise additional_formats themselves."""
    resp = requests.post(
        cluster.url("/v1/speech-to-text"),
        files={
            "file": jfk.open("rb"),
            "additional_formats": (None, "[{format: srt", "application/json"),
        },
        data={"model_id": "scribe_v1"},
        timeout=60,
    )
    assert resp.status_code == 400
    assert resp.json()["detail"]["param"] == "additional_formats"


def test_per_channel_needs_several_channels(eleven, jfk, tmp_path):
    from tests.audio_helpers import load, write_wav

    mono = write_wav(load(jfk), tmp_path / "mono.wav")
    status, detail = _el_error(
        lambda: eleven.speech_to_text.convert(
            model_id="scribe_v1", file=mono.open("rb"), use_multi_channel=True
        )
    )
    assert status == 400 and detail["code"] == "unsupported_option"


def test_seed_makes_sampling_repeatable(eleven, jfk):
    texts = {
        eleven.speech_to_text.convert(
            model_id="scribe_v1", file=jfk.open("rb"), temperature=1.0, seed=7
        ).text
        for _ in range(2)
    }
    assert len(texts) == 1


def test_entities_detected_and_redacted(eleven, tmp_path):
    import subprocess

    wav = tmp_path / "pii.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(wav),
         "The train ticket costs twenty five dollars."],
        check=True,
    )  # fmt: skip
    found = eleven.speech_to_text.convert(
        model_id="base", file=wav.open("rb"), entity_detection="all"
    )
    kinds = {e.entity_type for e in found.entities or []}
    assert "money" in kinds, (found.text, found.entities)
    hidden = eleven.speech_to_text.convert(
        model_id="base",
        file=wav.open("rb"),
        entity_detection="all",
        entity_redaction="all",
        entity_redaction_mode="entity_type",
    )
    assert "{MONEY}" in hidden.text and "25" not in hidden.text, hidden.text
    assert not any("25" in w.text for w in hidden.words)


@pytest.fixture
def impatient_api(cluster):
    """A second API on the same cluster that waits only 0.3 s for a synchronous answer."""
    import threading

    from werkzeug.serving import make_server

    from dalston.app import create_app

    server = make_server(
        "127.0.0.1",
        0,
        create_app({**cluster.settings, "DALSTON_SYNC_TIMEOUT": "0.3"}),
        threaded=True,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_long_jobs_say_how_to_go_asynchronous(impatient_api, jfk):
    """Past the sync timeout the answer is the ack shape with a transcript id to fetch."""
    import time

    from elevenlabs import ElevenLabs, SpeechToTextWebhookResponseModel

    client = ElevenLabs(api_key="k", base_url=impatient_api)
    resp = client.speech_to_text.with_raw_response.convert(
        model_id="scribe_v1", file=jfk.open("rb")
    )
    assert resp._response.status_code == 202
    ack = strict(SpeechToTextWebhookResponseModel, resp._response.json())
    assert f"/v1/speech-to-text/transcripts/{ack.transcription_id}" in ack.message
    pending = requests.get(
        f"{impatient_api}/v1/speech-to-text/transcripts/{ack.transcription_id}", timeout=30
    )
    if pending.status_code == 404:  # still running: 404 + Retry-After, never a retried 409
        assert pending.headers["Retry-After"] and pending.json()["detail"]["code"] == (
            "transcript_not_ready"
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = requests.get(
            f"{impatient_api}/v1/speech-to-text/transcripts/{ack.transcription_id}", timeout=30
        )
        if got.status_code == 200:
            break
        time.sleep(0.5)
    assert wer(JFK, got.json()["text"]) <= 0.10


def test_webhook_with_enable_logging_false_deletes_after_delivery(
    eleven, jfk, webhook_receiver, cluster, s3
):
    import time

    ack = eleven.speech_to_text.convert(
        model_id="scribe_v1", file=jfk.open("rb"), webhook=True, enable_logging=False
    )
    webhook_receiver.wait_for(
        lambda d: json.loads(d["body"])["data"]["transcription_id"] == ack.transcription_id
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the job is deleted right after the delivery
        status = requests.get(
            cluster.url(f"/v1/speech-to-text/transcripts/{ack.transcription_id}"), timeout=30
        ).status_code
        if status == 404 and not s3(f"jobs/{ack.transcription_id}/"):
            break
        time.sleep(0.3)
    assert status == 404 and s3(f"jobs/{ack.transcription_id}/") == []
