"""Unit tests for dalston.elevenlabs.formats: ElevenLabs ``additional_formats``."""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from dalston.elevenlabs.formats import (
    CONTENT_TYPES,
    DEFAULTS,
    FORMATS,
    FormatError,
    FormatRequest,
    _unicode_font,
    el_speaker_id,
    parse_additional_formats,
    render_additional_format,
    render_additional_formats,
    segment_transcript,
)

ITEM_KEYS = {"requested_format", "file_extension", "content_type", "is_base64_encoded", "content"}


def word(text, start, end, speaker="SPEAKER_00", confidence=0.9):
    return {
        "text": f" {text}",
        "start": start,
        "end": end,
        "confidence": confidence,
        "speaker": speaker,
    }


def transcript_of(segments, language="en"):
    return {
        "text": " ".join(s["text"].strip() for s in segments),
        "language": language,
        "language_probability": 1.0,
        "duration": 20.0,
        "segments": segments,
        "words": [w for s in segments for w in s.get("words", [])],
        "speakers": [],
        "warnings": [],
    }


def segment(seg_id, words, speaker="SPEAKER_00"):
    return {
        "id": seg_id,
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "text": "".join(w["text"] for w in words),
        "speaker": speaker,
        "words": words,
    }


@pytest.fixture
def dialogue():
    """Two speakers; a 1.5 s pause inside speaker 0's first segment."""
    first = [word("Hello", 0.0, 0.4), word("there.", 0.5, 0.9), word("Welcome", 2.4, 2.9)]
    second = [
        word("Thanks", 3.2, 3.6, "SPEAKER_01"),
        word("Grüße", 3.7, 4.1, "SPEAKER_01"),
        word("Ελληνικά", 4.2, 4.8, "SPEAKER_01"),
    ]
    return transcript_of([segment(0, first), segment(1, second, "SPEAKER_01")])


def request(fmt, **options):
    return parse_additional_formats(json.dumps([{"format": fmt, **options}]))[0]


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


def test_parse_applies_each_formats_documented_defaults():
    parsed = parse_additional_formats(json.dumps([{"format": f} for f in FORMATS]))
    by_format = {r.format: r for r in parsed}
    assert by_format["srt"] == FormatRequest("srt", False, True, 0.8, 4.0, 84, 42)
    assert by_format["txt"] == FormatRequest("txt", True, True, None, None, None, 100)
    for fmt in ("segmented_json", "html", "docx", "pdf"):
        assert by_format[fmt] == FormatRequest(fmt, True, True)


def test_parse_accepts_bytes_lists_nulls_and_double_encoded_json():
    options = [{"format": "srt", "max_characters_per_line": 30, "include_speakers": True}]
    text = json.dumps(options)
    expected = [FormatRequest("srt", True, True, 0.8, 4.0, 84, 30)]
    assert parse_additional_formats(text) == expected
    assert parse_additional_formats(text.encode()) == expected
    assert parse_additional_formats(options) == expected
    assert parse_additional_formats(json.dumps(text)) == expected
    assert parse_additional_formats(None) == []
    assert parse_additional_formats("") == []
    assert parse_additional_formats("null") == []
    nulls = parse_additional_formats('[{"format": "srt", "max_segment_chars": null}]')
    assert nulls[0].max_segment_chars == 84


def test_parse_reads_option_values_and_ignores_unknown_keys():
    (parsed,) = parse_additional_formats(
        '[{"format": "TXT", "include_timestamps": false, "segment_on_silence_longer_than_s": 2,'
        ' "max_segment_duration_s": 10.5, "max_segment_chars": 200.0, "colour": "red"}]'
    )
    assert parsed == FormatRequest("txt", True, False, 2.0, 10.5, 200, 100)
    assert isinstance(parsed.segment_on_silence_longer_than_s, float)
    assert isinstance(parsed.max_segment_chars, int)
    # max_characters_per_line only exists for srt and txt
    (html_request,) = parse_additional_formats('[{"format": "html", "max_characters_per_line": 5}]')
    assert html_request.max_characters_per_line is None


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("[{", "not valid JSON"),
        ('{"format": "srt"}', "JSON array"),
        ('"srt"', "JSON array"),
        (json.dumps([{"format": "srt"}] * 11), "at most 10"),
        ('["srt"]', "must be an object"),
        ('[{"format": "vtt"}]', "format must be one of"),
        ("[{}]", "format must be one of"),
        ('[{"format": "srt", "include_speakers": "yes"}]', "include_speakers must be a boolean"),
        ('[{"format": "srt", "max_segment_chars": 12.5}]', "max_segment_chars must be an integer"),
        ('[{"format": "srt", "max_segment_chars": true}]', "max_segment_chars must be a number"),
        ('[{"format": "txt", "max_characters_per_line": 0}]', "at least 1"),
        ('[{"format": "srt", "segment_on_silence_longer_than_s": -1}]', "at least 0"),
        ('[{"format": "srt", "max_segment_duration_s": "4"}]', "must be a number"),
    ],
)
def test_parse_rejects_bad_input_with_the_field_name(value, fragment):
    with pytest.raises(FormatError) as caught:
        parse_additional_formats(value)
    assert fragment in caught.value.message
    assert caught.value.param == "additional_formats"


def test_exactly_ten_items_are_allowed():
    assert len(parse_additional_formats(json.dumps([{"format": "txt"}] * 10))) == 10


# --------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------


def texts(transcript, req):
    return [s["text"] for s in segment_transcript(transcript, req)]


def test_silence_longer_than_the_threshold_starts_a_segment(dialogue):
    req = FormatRequest("txt", True, True, segment_on_silence_longer_than_s=1.0)
    assert texts(dialogue, req) == ["Hello there.", "Welcome", "Thanks Grüße Ελληνικά"]
    # the 1.5 s gap is not "longer than" 2 s, and the segments merge across Dalston's own
    longer = FormatRequest("txt", True, True, segment_on_silence_longer_than_s=2.0)
    assert texts(dialogue, longer) == ["Hello there. Welcome", "Thanks Grüße Ελληνικά"]


def test_speaker_change_always_starts_a_segment(dialogue):
    req = FormatRequest("txt", False, True, max_segment_chars=1000)
    segments = segment_transcript(dialogue, req)
    assert [s["speaker"] for s in segments] == ["SPEAKER_00", "SPEAKER_01"]
    assert [s["start"] for s in segments] == [0.0, 3.2]
    assert [s["end"] for s in segments] == [2.9, 4.8]


def test_max_duration_cuts_before_the_word_that_would_exceed_it():
    words = [word(f"w{i}", i * 1.0, i * 1.0 + 0.8) for i in range(6)]
    t = transcript_of([segment(0, words)])
    req = FormatRequest("txt", True, True, max_segment_duration_s=2.0)
    segments = segment_transcript(t, req)
    assert [s["text"] for s in segments] == ["w0 w1", "w2 w3", "w4 w5"]
    assert all(s["end"] - s["start"] <= 2.0 for s in segments)


def test_max_chars_cuts_before_the_word_that_would_exceed_it():
    words = [word(t, i * 0.5, i * 0.5 + 0.4) for i, t in enumerate("aaa bbb ccc ddd eee".split())]
    t = transcript_of([segment(0, words)])
    req = FormatRequest("txt", True, True, max_segment_chars=7)
    assert texts(t, req) == ["aaa bbb", "ccc ddd", "eee"]
    req = FormatRequest("txt", True, True, max_segment_chars=8)
    assert texts(t, req) == ["aaa bbb", "ccc ddd", "eee"]
    req = FormatRequest("txt", True, True, max_segment_chars=11)
    assert texts(t, req) == ["aaa bbb ccc", "ddd eee"]


def test_without_segmentation_options_dalston_segments_are_kept():
    a = [word("one", 0.0, 0.2), word("two", 0.3, 0.5)]
    b = [word("three", 0.6, 0.9)]
    t = transcript_of([segment(0, a), segment(1, b)])
    assert texts(t, FormatRequest("txt", True, True)) == ["one two", "three"]
    merged = FormatRequest("txt", True, True, segment_on_silence_longer_than_s=5.0)
    assert texts(t, merged) == ["one two three"]


def test_transcript_without_words_uses_segment_times_shared_by_characters():
    t = transcript_of([])
    t["segments"] = [{"id": 0, "start": 10.0, "end": 20.0, "text": " aaaa bbbb", "speaker": None}]
    req = FormatRequest("txt", True, True, max_segment_chars=4)
    segments = segment_transcript(t, req)
    assert [s["text"] for s in segments] == ["aaaa", "bbbb"]
    assert segments[0]["start"] == 10.0
    assert segments[0]["end"] == pytest.approx(10.0 + 10.0 * 4 / 9)
    assert segments[1]["start"] == pytest.approx(10.0 + 10.0 * 5 / 9)
    assert segments[1]["end"] == 20.0


def test_speaker_ids_take_the_elevenlabs_form():
    assert el_speaker_id("SPEAKER_00") == "speaker_0"
    assert el_speaker_id("SPEAKER_12") == "speaker_12"
    assert el_speaker_id("speaker_3") == "speaker_3"
    assert el_speaker_id("agent") == "agent"
    assert el_speaker_id(None) is None


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_returns_the_documented_item_shape(dialogue, fmt):
    item = render_additional_format(dialogue, request(fmt))
    assert set(item) == ITEM_KEYS
    assert item["requested_format"] == fmt
    assert item["file_extension"] == {"segmented_json": "json"}.get(fmt, fmt)
    assert item["content_type"] == CONTENT_TYPES[fmt]
    assert item["is_base64_encoded"] is (fmt in ("docx", "pdf"))
    assert isinstance(item["content"], str) and item["content"]
    if item["is_base64_encoded"]:
        base64.b64decode(item["content"], validate=True)


def test_content_types():
    assert CONTENT_TYPES == {
        "srt": "text/srt",
        "txt": "text/plain",
        "segmented_json": "application/json",
        "html": "text/html",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf": "application/pdf",
    }


def test_render_accepts_a_raw_option_object_and_many_requests(dialogue):
    assert render_additional_format(dialogue, {"format": "txt"}) == render_additional_format(
        dialogue, request("txt")
    )
    items = render_additional_formats(
        dialogue, parse_additional_formats('[{"format": "srt"}, {"format": "html"}]')
    )
    assert [i["requested_format"] for i in items] == ["srt", "html"]


def test_srt_uses_spec_defaults(dialogue):
    content = render_additional_format(dialogue, request("srt"))["content"]
    assert content == (
        "1\n00:00:00,000 --> 00:00:00,900\nHello there.\n\n"
        "2\n00:00:02,400 --> 00:00:02,900\nWelcome\n\n"
        "3\n00:00:03,200 --> 00:00:04,800\nThanks Grüße Ελληνικά\n"
    )


def test_srt_with_speakers_wraps_lines_including_the_label(dialogue):
    req = request("srt", include_speakers=True, max_characters_per_line=20)
    blocks = render_additional_format(dialogue, req)["content"].split("\n\n")
    assert blocks[2].splitlines()[2:] == ["[speaker_1] Thanks", "Grüße Ελληνικά"]
    assert all(len(line) <= 20 for block in blocks for line in block.splitlines()[2:])


def test_txt_layout_with_and_without_speakers_and_timestamps(dialogue):
    content = render_additional_format(dialogue, request("txt"))["content"]
    assert content == (
        "[speaker_0] [00:00:00.000 - 00:00:02.900]\nHello there. Welcome\n\n"
        "[speaker_1] [00:00:03.200 - 00:00:04.800]\nThanks Grüße Ελληνικά\n"
    )
    bare = request("txt", include_speakers=False, include_timestamps=False)
    assert render_additional_format(dialogue, bare)["content"] == (
        "Hello there. Welcome\n\nThanks Grüße Ελληνικά\n"
    )
    narrow = request(
        "txt", include_speakers=False, include_timestamps=False, max_characters_per_line=12
    )
    assert render_additional_format(dialogue, narrow)["content"].split("\n\n")[0] == (
        "Hello there.\nWelcome"
    )


def test_segmented_json_has_segments_of_elevenlabs_words(dialogue):
    content = render_additional_format(dialogue, request("segmented_json"))["content"]
    doc = json.loads(content)
    assert list(doc) == ["segments"]
    first = doc["segments"][0]
    assert set(first) == {"text", "words"}
    assert first["text"] == "Hello there. Welcome"
    assert [w["text"] for w in first["words"]] == ["Hello", " ", "there.", " ", "Welcome"]
    assert [w["type"] for w in first["words"]] == ["word", "spacing"] * 2 + ["word"]
    assert first["words"][0] == {
        "text": "Hello",
        "start": 0.0,
        "end": 0.4,
        "type": "word",
        "speaker_id": "speaker_0",
        "logprob": pytest.approx(-0.105361, abs=1e-6),
    }
    assert first["words"][1]["start"] == 0.4 and first["words"][1]["end"] == 0.5
    assert all(w["logprob"] <= 0 for s in doc["segments"] for w in s["words"])
    assert doc["segments"][1]["words"][0]["speaker_id"] == "speaker_1"
    assert "Ελληνικά" in content  # not \u-escaped


def test_segmented_json_drops_speakers_and_times_when_asked(dialogue):
    req = request("segmented_json", include_speakers=False, include_timestamps=False)
    doc = json.loads(render_additional_format(dialogue, req)["content"])
    words = [w for s in doc["segments"] for w in s["words"]]
    assert all(w["speaker_id"] is None and w["start"] is None and w["end"] is None for w in words)


def test_html_is_a_well_formed_document_with_escaped_text(dialogue):
    dialogue["segments"][0]["words"][0]["text"] = " <b>&"
    content = render_additional_format(dialogue, request("html"))["content"]
    assert content.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(content.split("\n", 1)[1])  # XML-parseable apart from the doctype
    assert root.tag == "html" and root.get("lang") == "en"
    paragraphs = root.findall("./body/p")
    assert len(paragraphs) == 2
    spans = {s.get("class"): s.text for s in paragraphs[0].findall("span")}
    assert spans == {
        "speaker": "speaker_0",
        "timestamp": "[00:00:00.000 - 00:00:02.900]",
        "text": "<b>& there. Welcome",
    }
    bare = request("html", include_speakers=False, include_timestamps=False)
    plain = ET.fromstring(render_additional_format(dialogue, bare)["content"].split("\n", 1)[1])
    assert [s.get("class") for s in plain.find("./body/p").findall("span")] == ["text"]


def test_docx_opens_and_contains_the_transcript(dialogue):
    from docx import Document

    item = render_additional_format(dialogue, request("docx"))
    document = Document(io.BytesIO(base64.b64decode(item["content"])))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Hello there. Welcome" in text
    assert "Thanks Grüße Ελληνικά" in text
    assert "[speaker_1] [00:00:03.200 - 00:00:04.800]" in text
    bold = [r.text.strip() for p in document.paragraphs for r in p.runs if r.bold]
    assert bold == [
        "[speaker_0] [00:00:00.000 - 00:00:02.900]",
        "[speaker_1] [00:00:03.200 - 00:00:04.800]",
    ]


def _pdf_text(item):
    from pypdf import PdfReader

    raw = base64.b64decode(item["content"])
    assert raw.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(raw))
    return " ".join(page.extract_text() for page in reader.pages)


def test_pdf_opens_and_contains_the_transcript(dialogue):
    text = _pdf_text(render_additional_format(dialogue, request("pdf")))
    normalised = re.sub(r"\s+", " ", text)
    assert "Hello there. Welcome" in normalised
    assert "speaker_1" in normalised
    if _unicode_font():
        assert "Thanks Grüße Ελληνικά" in normalised
    else:
        assert "Thanks Grüße ????????" in normalised


def test_pdf_without_a_unicode_font_replaces_unencodable_text(dialogue, monkeypatch):
    import dalston.elevenlabs.formats as module

    monkeypatch.setattr(module, "_unicode_font", lambda: None)
    normalised = re.sub(r"\s+", " ", _pdf_text(render_additional_format(dialogue, request("pdf"))))
    assert "Thanks Grüße ????????" in normalised


def test_long_transcript_pdf_spans_pages():
    from pypdf import PdfReader

    words = [word(f"word{i}", i * 0.5, i * 0.5 + 0.4) for i in range(1500)]
    t = transcript_of([segment(0, words)])
    raw = base64.b64decode(render_additional_format(t, request("pdf"))["content"])
    reader = PdfReader(io.BytesIO(raw))
    assert len(reader.pages) > 1
    assert "word1499" in reader.pages[-1].extract_text()


def test_empty_transcript_renders_every_format():
    t = transcript_of([])
    for fmt in FORMATS:
        item = render_additional_format(t, request(fmt))
        assert set(item) == ITEM_KEYS
    assert render_additional_format(t, request("srt"))["content"] == ""
    assert json.loads(render_additional_format(t, request("segmented_json"))["content"]) == {
        "segments": []
    }


def test_defaults_table_matches_the_spec():
    assert DEFAULTS["srt"]["include_speakers"] is False
    assert DEFAULTS["txt"]["max_characters_per_line"] == 100
    assert all(DEFAULTS[f]["include_speakers"] is True for f in FORMATS if f != "srt")
