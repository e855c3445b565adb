"""Forced alignment against synthetic speech whose word boundaries are known exactly."""

from __future__ import annotations

import pytest

from dalston.engines.faster_whisper import FasterWhisperTranscriber
from dalston.engines.forced_align import PocketsphinxAligner, runs, spell_number, tokens_for
from dalston.stages import align
from dalston.storage.local import LocalStore
from tests.audio_helpers import timed_words, timing_errors
from tests.engine_helpers import transcribe_options


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    return timed_words(tmp_path_factory.mktemp("timed"))


@pytest.fixture(scope="module")
def whisper_segments(timed, tmp_path_factory):
    samples, _ = timed
    segments, _, _ = FasterWhisperTranscriber().transcribe(
        samples, transcribe_options(model_dir=tmp_path_factory.mktemp("models"))
    )
    return segments


def test_forced_alignment_is_within_50_ms(timed, whisper_segments):
    samples, truth = timed
    whisper_start, whisper_end, _ = timing_errors(
        [w for s in whisper_segments for w in s["words"]], truth
    )
    aligned = PocketsphinxAligner().align(samples, 0.0, whisper_segments)
    words = [w for s in aligned for w in s["words"]]
    start, end, matched = timing_errors(words, truth)
    print(
        f"word timing MAE: aligned start {start * 1000:.0f} ms end {end * 1000:.0f} ms; "
        f"whisper start {whisper_start * 1000:.0f} ms end {whisper_end * 1000:.0f} ms; "
        f"{matched} words"
    )
    assert matched >= 0.85 * len(truth)
    assert start <= 0.050 and end <= 0.050
    assert start < whisper_start and end < whisper_end
    assert sum(w["timing"] == "forced_alignment" for w in words) >= 0.9 * len(words)
    assert all(a["start"] <= a["end"] for a in words)


def test_a_long_segment_is_aligned_in_runs_as_well(timed, whisper_segments):
    """One segment of every word, aligned in runs of about 16: as close to the truth."""
    samples, truth = timed
    words = [w for s in whisper_segments for w in s["words"]]
    segment = dict(whisper_segments[0], end=whisper_segments[-1]["end"], words=words)
    aligner = PocketsphinxAligner()
    aligner.run_words = 16
    decoded = []
    decode = aligner._decode
    aligner._decode = lambda text, *a: decoded.append(text) or decode(text, *a)
    (out,) = aligner.align(samples, 0.0, [segment])
    start, end, matched = timing_errors(out["words"], truth)
    print(
        f"in runs of 16: start {start * 1000:.0f} ms end {end * 1000:.0f} ms, {len(decoded)} runs"
    )
    assert len(decoded) >= len(words) // 12
    assert matched >= 0.85 * len(truth) and start <= 0.050 and end <= 0.050
    assert sum(w["timing"] == "forced_alignment" for w in out["words"]) >= 0.9 * len(words)


def test_runs_cut_at_the_widest_gap():
    gaps = [0.1] * 40
    gaps[20] = 0.9  # the pause after word 20
    words, t = [], 0.0
    for gap in gaps:
        words.append({"start": t, "end": t + 0.3})
        t += 0.3 + gap
    assert runs(words, 24) == [(0, 21), (21, 40)]
    assert runs(words[:36], 24) == [(0, 36)]  # up to 1.5 × size stays whole
    assert runs([], 24) == []
    spans = runs(words * 5, 24)
    assert spans[0][0] == 0 and spans[-1][1] == 200
    assert all(a == b for (_, a), (b, _) in zip(spans, spans[1:]))
    assert all(12 < last - first <= 36 for first, last in spans)


def check_characters(word: dict) -> None:
    """Characters spell the word, in order, inside the word's [start, end]."""
    chars = word["characters"]
    assert "".join(c["text"] for c in chars) == word["text"], word
    previous = word["start"]
    for c in chars:
        assert previous <= c["start"] <= c["end"] <= word["end"], (word, c)
        previous = c["end"]


def test_characters_are_timed_inside_aligned_words(timed, whisper_segments):
    samples, _ = timed
    aligner = PocketsphinxAligner()
    # Not asked for: no phone pass, the same word times, characters shared evenly.
    plain = [w for s in aligner.align(samples, 0.0, whisper_segments) for w in s["words"]]
    for word in plain:
        check_characters(word)
        shares = [c["end"] - c["start"] for c in word["characters"] if c["text"].isalnum()]
        assert max(shares) - min(shares) <= 0.0021, word  # even (to the ms), punctuation 0
    aligned = aligner.align(samples, 0.0, whisper_segments, characters=True)
    words = [w for s in aligned for w in s["words"]]
    assert [(w["start"], w["end"]) for w in words] == [(w["start"], w["end"]) for w in plain]
    for word in words:
        check_characters(word)
    # From the phones: aligned words' letters do not all get the same share of the word.
    aligned_words = [w for w in words if w["timing"] == "forced_alignment" and len(w["text"]) > 3]
    uneven = [
        w
        for w in aligned_words
        if len({round(c["end"] - c["start"], 3) for c in w["characters"]}) > 1
    ]
    assert len(uneven) >= 0.8 * len(aligned_words)


def test_audio_events_are_not_aligned(timed):
    samples, truth = timed
    _, start, end = truth[3]
    seg = {
        "start": start - 0.2,
        "end": end + 0.2,
        "text": "[Music]",
        "words": [{"text": "[Music]", "start": start, "end": end, "type": "audio_event"}],
    }
    (out,) = PocketsphinxAligner().align(samples, 0.0, [seg])
    assert out["words"][0]["timing"] == "whisper"
    check_characters(out["words"][0])


def test_words_it_cannot_place_keep_whisper_times(timed):
    samples, truth = timed
    _, start, end = truth[3]
    seg = {
        "start": start - 0.2,
        "end": end + 0.2,
        "text": "zorblaxia",
        "words": [{"text": "zorblaxia", "start": start, "end": end, "confidence": 0.5}],
    }
    (out,) = PocketsphinxAligner().align(samples, 0.0, [seg])
    assert out["words"][0]["timing"] == "whisper" and out["words"][0]["start"] == start


@pytest.mark.parametrize(
    "word,tokens",
    [
        ("30", ["thirty"]),
        ("re-open,", ["re", "open"]),
        ("don't", ["don't"]),
        ("3.5", []),
        ("Hello.", ["hello"]),
    ],
)
def test_tokens(word, tokens):
    assert tokens_for(word) == tokens


def test_spell_number():
    assert spell_number(1984) == ["one", "thousand", "nine", "hundred", "eighty", "four"]


def test_other_languages_keep_whisper_timings(tmp_path):
    store = LocalStore(tmp_path)
    chunk = {
        "index": 0,
        "channel": None,
        "language": "de",
        "language_probability": 0.9,
        "segments": [
            {
                "start": 0.0,
                "end": 1.0,
                "text": "Hallo",
                "words": [{"text": "Hallo", "start": 0.1, "end": 0.6}],
            }
        ],
    }
    out = align.align_chunk("j", 0, chunk, store, aligner=None)
    assert out["segments"][0]["words"][0]["timing"] == "whisper"


def test_translated_chunks_keep_whisper_timings(tmp_path):
    """English text translated from foreign speech is never force-aligned to that speech."""
    store = LocalStore(tmp_path)
    chunk = {
        "index": 0,
        "channel": None,
        "language": "en",  # detected wrongly, or English translated: either way not aligned
        "language_probability": 0.6,
        "task": "translate",
        "segments": [
            {
                "start": 0.0,
                "end": 1.0,
                "text": "Good morning",
                "words": [
                    {"text": "Good", "start": 0.1, "end": 0.4},
                    {"text": "morning", "start": 0.4, "end": 0.9},
                ],
            }
        ],
    }
    out = align.align_chunk(
        "j", 0, chunk, store, aligner=PocketsphinxAligner()
    )  # never called: no manifest
    words = out["segments"][0]["words"]
    assert [w["timing"] for w in words] == ["whisper", "whisper"]
    for word in words:
        check_characters(word)
