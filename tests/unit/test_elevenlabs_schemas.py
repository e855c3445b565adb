"""The ElevenLabs form parser on the exact encodings the SDKs send (api-compat.md §1.2)."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from dalston.elevenlabs import schemas
from dalston.errors import ApiError


def parse(pairs, args=(), has_file=True, spec=""):
    return schemas.parse(MultiDict(pairs), MultiDict(args), has_file=has_file, models_spec=spec)


#: What the Python SDK sends for convert(model_id="scribe_v2", file=...) [wire].
PY_MINIMAL = [
    ("model_id", "scribe_v2"),
    ("webhook_metadata", "null"),
    ("entity_detection", "null"),
    ("entity_redaction", "null"),
]


def test_python_sdk_minimal_call_treats_null_as_absent():
    req = parse(PY_MINIMAL)
    assert req.model is None and req.model_id == "scribe_v2"  # server default model
    assert req.response["webhook_metadata"] is None
    assert req.response["entity_detection"] is None and req.response["entity_redaction"] is None
    assert req.options.timestamps_granularity == "word"
    assert req.options.tag_audio_events is True
    assert req.enable_logging is True and not req.raw_pcm and not req.webhook


@pytest.mark.parametrize(
    "value", ['{"job": "abc"}', '"{\\"job\\": \\"abc\\"}"']  # dict, and the double-encoded str
)
def test_webhook_metadata_object_or_json_string(value):
    req = parse([("model_id", "scribe_v1"), ("webhook_metadata", value)])
    assert req.response["webhook_metadata"] == {"job": "abc"}


def test_entity_detection_every_encoding():
    py_all = parse([("model_id", "scribe_v1"), ("entity_detection", '"all"')])
    py_list = parse([("model_id", "scribe_v1"), ("entity_detection", '["pii", "pci"]')])
    js_repeated = parse(
        [("model_id", "scribe_v1"), ("entity_detection", "pii"), ("entity_detection", "pci")]
    )
    comma = parse([("model_id", "scribe_v1"), ("entity_detection", "pii,pci")])
    assert py_list.response["entity_detection"] == js_repeated.response["entity_detection"]
    assert comma.response["entity_detection"] == js_repeated.response["entity_detection"]
    assert set(py_all.response["entity_detection"]) > set(py_list.response["entity_detection"])


def test_repeated_keyterms_become_vocabulary():
    req = parse([("model_id", "scribe_v1"), ("keyterms", "Dalston"), ("keyterms", "ComfyUI")])
    assert req.options.vocabulary == ("Dalston", "ComfyUI")


def test_additional_formats_as_json_text():
    req = parse(
        [
            ("model_id", "scribe_v1"),
            ("additional_formats", '[{"format": "srt"}, {"format": "pdf"}]'),
        ]
    )
    assert [f["format"] for f in req.response["additional_formats"]] == ["srt", "pdf"]


def test_enable_logging_comes_from_the_query_string():
    assert parse(PY_MINIMAL, args=[("enable_logging", "false")]).enable_logging is False


def test_model_map_from_settings():
    req = parse([("model_id", "scribe_v2")], spec="scribe_v2=tiny.en")
    assert req.model == "tiny.en"
    assert parse([("model_id", "tiny.en")]).model == "tiny.en"  # Dalston names work too


def test_num_speakers_is_a_maximum_with_diarize():
    req = parse([("model_id", "scribe_v1"), ("diarize", "true"), ("num_speakers", "3")])
    assert req.options.speaker_detection == "diarize"
    assert req.options.max_speakers == 3 and req.options.num_speakers is None


@pytest.mark.parametrize(
    "pairs, has_file, param, code",
    [
        ([("language_code", "en")], True, "model_id", "missing_model_id"),
        ([("model_id", "scribe_v9")], True, "model_id", "invalid_model_id"),
        ([("model_id", "scribe_v2_realtime")], True, "model_id", "invalid_model_id"),
        ([("model_id", "scribe_v1")], False, "file", "missing_file"),
        (
            [("model_id", "scribe_v1"), ("cloud_storage_url", "https://x.example/a.mp3")],
            True,
            "cloud_storage_url",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("diarize", "true"), ("use_multi_channel", "true")],
            True,
            "diarize",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("additional_formats", "[{format: srt}")],
            True,
            "additional_formats",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("additional_formats", '[{"format": "mp4"}]')],
            True,
            "additional_formats",
            "invalid_parameters",
        ),
        ([("model_id", "scribe_v1"), ("diarize", "maybe")], True, "diarize", "invalid_parameters"),
        (
            [("model_id", "scribe_v1"), ("language_code", "xx-klingon")],
            True,
            "language_code",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("diarization_threshold", "0.3")],
            True,
            "diarization_threshold",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("keyterms", "a[b]")],
            True,
            "keyterms",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("entity_detection", "pii"), ("entity_redaction", "phi")],
            True,
            "entity_redaction",
            "invalid_parameters",
        ),
        (
            [("model_id", "scribe_v1"), ("seed", "-1")],
            True,
            "seed",
            "invalid_parameters",
        ),
    ],
)
def test_bad_requests_are_400_naming_the_field(pairs, has_file, param, code):
    with pytest.raises(ApiError) as err:
        parse(pairs, has_file=has_file)
    assert err.value.status == 400
    assert err.value.field == param and err.value.code == code
