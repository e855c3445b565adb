"""Unit tests for dalston.exports: txt / json / srt / vtt rendering and option parsing."""

from __future__ import annotations

import json
import re

import pytest

from dalston.exports import (
    MIMETYPES,
    ExportOptionError,
    export_options,
    format_timestamp,
    normalize_format,
    render,
    speaker_labels,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
)

TIMING = re.compile(
    r"^(\d{2,}):(\d{2}):(\d{2})([,.])(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})([,.])(\d{3})$"
)
LOREM = (
    "the quick brown fox jumps over the lazy dog while seven wizards quietly box "
    "jackdaws near the old mill and everybody watches in complete amazement tonight"
).split()


# --------------------------------------------------------------------------------------
# Builders and parsers
# --------------------------------------------------------------------------------------


def make_words(texts, start=0.0, step=0.5, length=0.4, speaker=None):
    return [
        {
            "text": f" {t}",  # faster-whisper style leading space
            "start": round(start + i * step, 3),
            "end": round(start + i * step + length, 3),
            "confidence": 0.9,
            "speaker": speaker,
        }
        for i, t in enumerate(texts)
    ]


def make_segment(seg_id, start, end, text, speaker=None, words=None):
    seg = {"id": seg_id, "start": start, "end": end, "text": text, "speaker": speaker}
    seg["words"] = words if words is not None else []
    return seg


def make_transcript(segments, speakers=None, duration=None):
    words = [w for s in segments for w in s.get("words", [])]
    return {
        "text": " ".join(s["text"] for s in segments),
        "language": "en",
        "language_probability": 0.99,
        "duration": (
            duration if duration is not None else max((s["end"] for s in segments), default=0)
        ),
        "segments": segments,
        "words": words,
        "speakers": speakers or [],
        "warnings": [],
    }


def to_ms(h, m, s, ms):
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def parse_cues(body, fmt):
    """Parse an SRT/VTT body into a list of {start, end, lines} (times in ms)."""
    if fmt == "vtt":
        assert body.startswith("WEBVTT\n")
        body = body[len("WEBVTT\n") :]
    cues = []
    for block in body.strip("\n").split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        if fmt == "srt":
            assert lines[0].isdigit(), block
            assert int(lines[0]) == len(cues) + 1
            lines = lines[1:]
        m = TIMING.match(lines[0])
        assert m, f"bad timing line {lines[0]!r}"
        sep = "," if fmt == "srt" else "."
        assert m.group(4) == sep and m.group(9) == sep
        start = to_ms(*m.group(1, 2, 3, 5))
        end = to_ms(*m.group(6, 7, 8, 10))
        cues.append({"start": start, "end": end, "lines": lines[1:]})
    return cues


def strip_prefix(line):
    return re.sub(r"^(\[[^\]]*\] |<v [^>]*>)", "", line)


@pytest.fixture
def long_transcript():
    """Two diarized segments with word timestamps; the first is far too long for one cue."""
    w1 = make_words(LOREM, start=1.0, speaker="SPEAKER_00")
    w2 = make_words(["yes", "indeed", "it", "was"], start=20.0, speaker="SPEAKER_01")
    s1 = make_segment(0, 1.0, w1[-1]["end"], " ".join(LOREM), "SPEAKER_00", w1)
    s2 = make_segment(1, 20.0, 22.0, "yes indeed it was", "SPEAKER_01", w2)
    return make_transcript([s1, s2])


# --------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, sep, expected",
    [
        (0, ",", "00:00:00,000"),
        (1.5, ",", "00:00:01,500"),
        (59.9994, ",", "00:00:59,999"),
        (59.9996, ",", "00:01:00,000"),
        (3723.456, ",", "01:02:03,456"),
        (3723.456, ".", "01:02:03.456"),
        (36000.0, ".", "10:00:00.000"),
        (360000.001, ",", "100:00:00,001"),
        (-0.3, ",", "00:00:00,000"),
    ],
)
def test_format_timestamp(seconds, sep, expected):
    assert format_timestamp(seconds, sep) == expected


def test_hour_long_cue_timestamps():
    words = make_words(["late", "in", "the", "recording"], start=3725.25, step=0.3, length=0.25)
    seg = make_segment(0, 3725.25, 3726.4, "late in the recording", words=words)
    tr = make_transcript([seg])
    srt = to_srt(tr)
    vtt = to_vtt(tr)
    assert "01:02:05,250 --> 01:02:06,400" in srt
    assert "01:02:05.250 --> 01:02:06.400" in vtt


def test_timestamps_round_to_milliseconds():
    seg = make_segment(0, 0.0004, 1.2345678, "hello there")
    seg["words"] = [
        {"text": "hello", "start": 0.0004, "end": 0.5006, "confidence": None, "speaker": None},
        {"text": "there", "start": 0.6, "end": 1.2345678, "confidence": None, "speaker": None},
    ]
    cues = parse_cues(to_srt(make_transcript([seg])), "srt")
    assert [(c["start"], c["end"]) for c in cues] == [(0, 1235)]


# --------------------------------------------------------------------------------------
# SRT / VTT layout
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
@pytest.mark.parametrize("max_line_length, max_lines", [(42, 2), (20, 1), (10, 3), (32, 2)])
def test_cue_line_length_and_count(long_transcript, fmt, max_line_length, max_lines):
    body, _ = render(
        long_transcript,
        fmt,
        max_line_length=max_line_length,
        max_lines=max_lines,
        include_speakers=False,
    )
    cues = parse_cues(body, fmt)
    assert len(cues) > 1
    for cue in cues:
        assert 1 <= len(cue["lines"]) <= max_lines
        for line in cue["lines"]:
            assert 0 < len(line) <= max_line_length, line
    # Every word appears, in order, exactly once; none was broken across lines.
    shown = " ".join(line for cue in cues for line in cue["lines"]).split()
    assert shown == LOREM + ["yes", "indeed", "it", "was"]


def test_srt_speaker_prefix_counts_toward_line_length(long_transcript):
    cues = parse_cues(to_srt(long_transcript, max_line_length=30, max_lines=2), "srt")
    for cue in cues:
        assert cue["lines"][0].startswith(("[Speaker 1] ", "[Speaker 2] "))
        for line in cue["lines"]:
            assert len(line) <= 30, line


def test_cue_times_come_from_words(long_transcript):
    words = long_transcript["segments"][0]["words"] + long_transcript["segments"][1]["words"]
    cues = parse_cues(to_srt(long_transcript, include_speakers=False), "srt")
    i = 0
    for cue in cues:
        n = len(" ".join(cue["lines"]).split())
        first, last = words[i], words[i + n - 1]
        assert cue["start"] == round(first["start"] * 1000)
        assert cue["end"] == round(last["end"] * 1000)
        i += n
    assert i == len(words)


def test_first_cue_exact_layout(long_transcript):
    srt = to_srt(long_transcript, max_line_length=42, max_lines=2, include_speakers=False)
    first_block = srt.split("\n\n")[0]
    assert first_block == (
        "1\n"
        "00:00:01,000 --> 00:00:07,900\n"  # 14 words: last ends 1 + 13*0.5 + 0.4
        "the quick brown fox jumps over the lazy\n"
        "dog while seven wizards quietly box"
    )


def test_cues_never_overlap_and_end_not_before_start():
    # Overlapping segments (e.g. two channels) and a word whose end precedes its start.
    a_words = make_words(["one", "two", "three"], start=0.0, step=1.0, length=0.9)
    b_words = make_words(["four", "five"], start=1.5, step=1.0, length=0.9)
    b_words[1]["end"] = 1.0  # broken: ends before it starts
    segs = [
        make_segment(0, 0.0, 2.9, "one two three", "A", a_words),
        make_segment(1, 1.5, 3.4, "four five", "B", b_words),
        make_segment(2, 5.0, 7.0, "six seven eight nine ten eleven twelve thirteen", "A"),
    ]
    for fmt in ("srt", "vtt"):
        body, _ = render(make_transcript(segs), fmt, max_line_length=10, max_lines=1)
        cues = parse_cues(body, fmt)
        assert len(cues) >= 4
        for cue, nxt in zip(cues, cues[1:]):
            assert cue["start"] <= nxt["start"]
            assert cue["end"] <= nxt["start"], (cue, nxt)
        for cue in cues:
            assert cue["end"] >= cue["start"]


def test_proportional_timing_without_words():
    # 10 chars + space + 10 chars over 2.1 s: each 10-char word is one cue of 1 s.
    seg = make_segment(0, 10.0, 12.1, "aaaaaaaaaa bbbbbbbbbb")
    cues = parse_cues(to_srt(make_transcript([seg]), max_line_length=10, max_lines=1), "srt")
    assert [c["lines"] for c in cues] == [["aaaaaaaaaa"], ["bbbbbbbbbb"]]
    assert (cues[0]["start"], cues[0]["end"]) == (10000, 11000)
    assert (cues[1]["start"], cues[1]["end"]) == (11100, 12100)


def test_proportional_timing_covers_segment():
    seg = make_segment(0, 2.0, 8.0, " ".join(LOREM))
    cues = parse_cues(to_vtt(make_transcript([seg]), max_line_length=20, max_lines=2), "vtt")
    assert len(cues) > 2
    assert cues[0]["start"] == 2000
    assert cues[-1]["end"] == 8000
    # Monotonic and each cue's share roughly proportional to its characters.
    total_chars = len(" ".join(LOREM))
    for cue in cues:
        chars = len(" ".join(cue["lines"]))
        assert cue["end"] - cue["start"] == pytest.approx(6000 * chars / total_chars, abs=2)


def test_words_without_timestamps_fall_back_to_proportional():
    words = make_words(["alpha", "beta"])
    words[1]["start"] = None
    seg = make_segment(0, 1.0, 2.0, "alpha beta", words=words)
    cues = parse_cues(to_srt(make_transcript([seg])), "srt")
    assert cues == [{"start": 1000, "end": 2000, "lines": ["alpha beta"]}]


def test_long_word_gets_its_own_line():
    long_word = "Donaudampfschifffahrtsgesellschaftskapitän"  # 42 chars
    seg = make_segment(0, 0.0, 3.0, f"a {long_word} b c")
    cues = parse_cues(to_srt(make_transcript([seg]), max_line_length=10, max_lines=3), "srt")
    lines = [line for cue in cues for line in cue["lines"]]
    assert lines == ["a", long_word, "b c"]


def test_segment_without_timestamps_is_rejected_for_subtitles():
    seg = make_segment(0, None, None, "no times here")
    tr = make_transcript([dict(seg, end=0)])
    tr["segments"][0]["end"] = None
    with pytest.raises(ValueError, match="timestamps"):
        to_srt(tr)
    # Plain text does not need timestamps.
    assert to_txt(tr) == "no times here\n"


def test_cues_do_not_span_segments_and_split_on_word_speaker_change():
    words = make_words(["hi", "there"], speaker="S0") + make_words(
        ["hello", "back"], start=1.0, speaker="S1"
    )
    seg = make_segment(0, 0.0, 1.9, "hi there hello back", "S0", words)
    seg2 = make_segment(1, 2.0, 2.5, "ok", "S0", make_words(["ok"], start=2.0, speaker="S0"))
    vtt = to_vtt(make_transcript([seg, seg2]))
    cues = parse_cues(vtt, "vtt")
    assert [c["lines"] for c in cues] == [
        ["<v Speaker 1>hi there"],
        ["<v Speaker 2>hello back"],
        ["<v Speaker 1>ok"],
    ]
    assert [(c["start"], c["end"]) for c in cues] == [(0, 900), (1000, 1900), (2000, 2400)]


# --------------------------------------------------------------------------------------
# Speakers
# --------------------------------------------------------------------------------------


def test_speaker_labels_by_first_appearance_and_explicit_labels():
    segs = [
        make_segment(0, 0, 1, "a", "SPEAKER_01"),
        make_segment(1, 1, 2, "b", "speaker_0"),
        make_segment(2, 2, 3, "c", "SPEAKER_01"),
        make_segment(3, 3, 4, "d", "SPEAKER_02"),
    ]
    tr = make_transcript(segs, speakers=[{"id": "SPEAKER_02", "label": "Alice", "channel": None}])
    assert speaker_labels(tr) == {
        "SPEAKER_01": "Speaker 1",
        "speaker_0": "Speaker 2",
        "SPEAKER_02": "Alice",
    }
    srt = to_srt(tr)
    assert "[Speaker 1] a" in srt and "[Speaker 2] b" in srt and "[Alice] d" in srt
    vtt = to_vtt(tr)
    assert "<v Speaker 1>a" in vtt and "<v Alice>d" in vtt


def test_speakers_can_be_omitted(long_transcript):
    assert "[Speaker" not in to_srt(long_transcript, include_speakers=False)
    assert "<v " not in to_vtt(long_transcript, include_speakers=False)
    assert "Speaker" not in to_txt(long_transcript, include_speakers=False)


# --------------------------------------------------------------------------------------
# Plain text and JSON
# --------------------------------------------------------------------------------------


def test_txt_groups_consecutive_segments_by_speaker():
    segs = [
        make_segment(0, 0, 1, " Hello there.", "SPEAKER_00"),
        make_segment(1, 1, 2, "How are you?", "SPEAKER_00"),
        make_segment(2, 2, 3, "Fine,\nthanks.", "SPEAKER_01"),
        make_segment(3, 3, 4, "Good.", "SPEAKER_00"),
    ]
    tr = make_transcript(segs, speakers=[{"id": "SPEAKER_01", "label": None}])
    assert to_txt(tr) == (
        "Speaker 1: Hello there. How are you?\n" "Speaker 2: Fine, thanks.\n" "Speaker 1: Good.\n"
    )
    assert to_txt(tr, include_speakers=False) == (
        "Hello there.\nHow are you?\nFine, thanks.\nGood.\n"
    )


def test_txt_without_speakers_is_one_line_per_segment():
    segs = [make_segment(0, 0, 1, "First."), make_segment(1, 1, 2, "Second.")]
    assert to_txt(make_transcript(segs)) == "First.\nSecond.\n"


def test_txt_uses_word_speakers_when_segment_has_none():
    words = make_words(["hi"], speaker="SPEAKER_03")
    tr = make_transcript([make_segment(0, 0, 1, "hi", None, words)])
    assert to_txt(tr) == "Speaker 1: hi\n"


def test_json_is_pretty_utf8_and_round_trips():
    seg = make_segment(0, 0.0, 1.0, "Grüße, 世界! “quotes”", "SPEAKER_00")
    tr = make_transcript([seg])
    body = to_json(tr)
    assert "Grüße, 世界! “quotes”" in body
    assert "\\u" not in body
    assert body.startswith("{\n  ")
    assert json.loads(body) == tr


def test_unicode_in_subtitles():
    text = "Ünïcödé café — naïve 日本語のテキスト"
    seg = make_segment(0, 0.0, 2.0, text)
    tr = make_transcript([seg])
    srt_cues = parse_cues(to_srt(tr, max_line_length=20), "srt")
    assert " ".join(line for c in srt_cues for line in c["lines"]) == text
    for cue in srt_cues:
        assert all(len(line) <= 20 for line in cue["lines"])
    assert "日本語のテキスト" in to_vtt(tr)


def test_vtt_escapes_markup_characters():
    seg = make_segment(0, 0.0, 1.0, "a <b> & c --> d", "S")
    tr = make_transcript([seg], speakers=[{"id": "S", "label": "Tom & <Jerry>"}])
    vtt = to_vtt(tr)
    assert "<v Tom &amp; &lt;Jerry&gt;>a &lt;b&gt; &amp; c --&gt; d" in vtt
    assert "a <b> & c --> d" in to_srt(tr)


# --------------------------------------------------------------------------------------
# Empty transcripts
# --------------------------------------------------------------------------------------


def test_empty_transcript():
    tr = make_transcript([], duration=0.0)
    assert to_srt(tr) == ""
    assert to_vtt(tr) == "WEBVTT\n"
    assert to_txt(tr) == ""
    assert json.loads(to_json(tr)) == tr


def test_blank_segments_are_skipped():
    tr = make_transcript([make_segment(0, 0, 1, "   "), make_segment(1, 1, 2, "ok")])
    assert to_txt(tr) == "ok\n"
    assert parse_cues(to_srt(tr), "srt") == [{"start": 1000, "end": 2000, "lines": ["ok"]}]


def test_text_only_transcript_spans_duration():
    tr = make_transcript([], duration=4.0)
    tr["text"] = "just some text"
    assert to_txt(tr) == "just some text\n"
    cues = parse_cues(to_srt(tr), "srt")
    assert cues == [{"start": 0, "end": 4000, "lines": ["just some text"]}]


def test_srt_document_shape():
    segs = [make_segment(0, 0.0, 1.0, "one"), make_segment(1, 1.0, 2.0, "two")]
    assert to_srt(make_transcript(segs)) == (
        "1\n00:00:00,000 --> 00:00:01,000\none\n\n2\n00:00:01,000 --> 00:00:02,000\ntwo\n"
    )
    assert to_vtt(make_transcript(segs)) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\none\n\n00:00:01.000 --> 00:00:02.000\ntwo\n"
    )


# --------------------------------------------------------------------------------------
# render() and option validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, mimetype",
    [
        ("txt", "text/plain; charset=utf-8"),
        ("json", "application/json"),
        ("srt", "application/x-subrip"),
        ("vtt", "text/vtt"),
        ("webvtt", "text/vtt"),
        ("SRT", "application/x-subrip"),
    ],
)
def test_render_mimetypes(long_transcript, fmt, mimetype):
    body, mt = render(long_transcript, fmt, **export_options({}))
    assert mt == mimetype
    assert body
    assert MIMETYPES[normalize_format(fmt)] == mimetype


def test_render_dispatches_to_the_right_renderer(long_transcript):
    opts = {"max_line_length": 20, "max_lines": 1, "include_speakers": True}
    assert render(long_transcript, "srt", **opts)[0] == to_srt(long_transcript, 20, 1, True)
    assert render(long_transcript, "webvtt", **opts)[0] == to_vtt(long_transcript, 20, 1, True)
    assert render(long_transcript, "txt", **opts)[0] == to_txt(long_transcript, True)
    assert render(long_transcript, "json", **opts)[0] == to_json(long_transcript)


@pytest.mark.parametrize("fmt", ["docx", "pdf", "", "srt2", "html"])
def test_render_rejects_unknown_format(long_transcript, fmt):
    with pytest.raises(ValueError, match="unsupported export format"):
        render(long_transcript, fmt)


def test_render_rejects_unknown_option(long_transcript):
    with pytest.raises(TypeError):
        render(long_transcript, "srt", max_chars=10)


def test_export_options_defaults():
    assert export_options({}) == {
        "max_line_length": 42,
        "max_lines": 2,
        "include_speakers": True,
    }


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"max_line_length": "10"}, {"max_line_length": 10}),
        ({"max_line_length": " 200 "}, {"max_line_length": 200}),
        ({"max_lines": "1"}, {"max_lines": 1}),
        ({"max_lines": "10"}, {"max_lines": 10}),
        ({"max_lines": 3}, {"max_lines": 3}),
        ({"include_speakers": "false"}, {"include_speakers": False}),
        ({"include_speakers": "FALSE"}, {"include_speakers": False}),
        ({"include_speakers": "0"}, {"include_speakers": False}),
        ({"include_speakers": "1"}, {"include_speakers": True}),
        ({"include_speakers": "True"}, {"include_speakers": True}),
        ({"include_speakers": False}, {"include_speakers": False}),
        ({"unrelated": "x", "max_lines": "4"}, {"max_lines": 4}),
    ],
)
def test_export_options_parses_values(args, expected):
    opts = export_options(args)
    for key, value in expected.items():
        assert opts[key] == value
        assert type(opts[key]) is type(value)


@pytest.mark.parametrize(
    "args, field",
    [
        ({"max_line_length": "9"}, "max_line_length"),
        ({"max_line_length": "201"}, "max_line_length"),
        ({"max_line_length": "abc"}, "max_line_length"),
        ({"max_line_length": "42.0"}, "max_line_length"),
        ({"max_line_length": ""}, "max_line_length"),
        ({"max_lines": "0"}, "max_lines"),
        ({"max_lines": "11"}, "max_lines"),
        ({"max_lines": "-1"}, "max_lines"),
        ({"max_lines": True}, "max_lines"),
        ({"include_speakers": "yes please"}, "include_speakers"),
        ({"include_speakers": "2"}, "include_speakers"),
        ({"include_speakers": ""}, "include_speakers"),
    ],
)
def test_export_options_rejects_bad_values(args, field):
    with pytest.raises(ExportOptionError) as excinfo:
        export_options(args)
    err = excinfo.value
    assert isinstance(err, ValueError)
    assert err.field == field
    assert err.message
    assert str(err).startswith(f"{field}: ")


def test_export_options_error_messages_name_range():
    with pytest.raises(ExportOptionError, match="between 10 and 200"):
        export_options({"max_line_length": "5"})
    with pytest.raises(ExportOptionError, match="between 1 and 10"):
        export_options({"max_lines": "50"})


def test_export_options_work_with_multidict_like_args(long_transcript):
    class Args(dict):
        """Mimics werkzeug's MultiDict.get (first value)."""

    opts = export_options(Args(max_line_length="15", max_lines="1", include_speakers="0"))
    cues = parse_cues(render(long_transcript, "srt", **opts)[0], "srt")
    assert all(len(c["lines"]) == 1 and len(c["lines"][0]) <= 15 for c in cues)
    assert not any(c["lines"][0].startswith("[") for c in cues)
