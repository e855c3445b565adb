"""Every renderer reads a word's stored ``logprob``; one fallback rule for words without it."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from dalston import languages
from dalston.contracts import word_logprob
from dalston.elevenlabs import formats as el_formats
from dalston.elevenlabs import render as el_render
from dalston.openai import render as openai_render


def transcript(words):
    return {
        "text": " ".join(w["text"] for w in words),
        "language": "en",
        "language_probability": 1.0,
        "duration": 2.0,
        "segments": [{"id": 0, "start": 0.0, "end": 2.0, "text": "a b", "words": words}],
        "words": words,
        "speakers": [],
        "warnings": [],
    }


def test_stored_logprob_wins_over_the_confidence():
    # The stored value (ln of the unrounded probability) and ln(rounded confidence) differ.
    words = [
        {"text": "a", "start": 0.0, "end": 0.5, "confidence": 0.5, "logprob": -0.7},
        {"text": "b", "start": 0.6, "end": 1.0, "confidence": 0.9},
    ]
    tr = transcript(words)
    (segmented_json,) = el_formats.parse_additional_formats('[{"format": "segmented_json"}]')
    options = {"granularity": "word", "additional_formats": [dataclasses.asdict(segmented_json)]}
    body = el_render.render(tr, options, "job")
    main = [w["logprob"] for w in body["words"] if w["type"] == "word"]
    seg = json.loads(body["additional_formats"][0]["content"])["segments"]
    segmented = [w["logprob"] for s in seg for w in s["words"] if w["type"] == "word"]
    openai = [lp["logprob"] for lp in openai_render.word_logprobs(tr)]
    assert main == segmented == openai == [-0.7, round(math.log(0.9), 6)]


@pytest.mark.parametrize(
    "word, expected",
    [
        ({"logprob": -1.25, "confidence": 0.1}, -1.25),
        ({"confidence": 0.9}, round(math.log(0.9), 6)),
        ({"confidence": 0.0}, round(math.log(1e-10), 6)),
        ({"confidence": 1.0}, 0.0),
        ({}, 0.0),
    ],
)
def test_the_one_fallback(word, expected):
    assert word_logprob(word) == expected


def test_language_table_matches_whisper():
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # the table the engine decodes with

    assert languages.WHISPER_CODES == frozenset(_LANGUAGE_CODES)
