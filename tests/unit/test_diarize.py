"""The offline d-vector diarizer on a synthetic two-voice dialogue, and speaker assignment."""

from __future__ import annotations

import numpy as np
import pytest

from dalston import audio
from dalston.engines.base import SpeakerOptions
from dalston.engines.dvector import DVectorDiarizer
from dalston.stages import merge, prepare
from tests.audio_helpers import dialogue as make_dialogue


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory):
    return make_dialogue(tmp_path_factory.mktemp("dialogue"))


def _accuracy(turns, truth) -> float:
    """Share of the reference speech time given to the right speaker (best mapping of 2)."""
    grid = np.arange(0, truth[-1][1], 0.01)
    ref = np.full(len(grid), -1)
    for start, end, who in truth:
        ref[(grid >= start) & (grid < end)] = who
    hyp = np.full(len(grid), -1)
    ids = sorted({t["speaker"] for t in turns})
    for turn in turns:
        hyp[(grid >= turn["start"]) & (grid < turn["end"])] = ids.index(turn["speaker"])
    speech = ref >= 0
    direct = np.mean(hyp[speech] == ref[speech])
    swapped = np.mean(hyp[speech] == 1 - ref[speech])
    return float(max(direct, swapped))


@pytest.mark.parametrize(
    "options", [{}, {"num_speakers": 2}, {"min_speakers": 2, "max_speakers": 4}]
)
def test_two_voices_are_told_apart(dialogue, options):
    samples, truth = dialogue
    turns = DVectorDiarizer().diarize(
        samples, prepare.find_speech(samples), SpeakerOptions(**options)
    )
    assert len({t["speaker"] for t in turns}) == 2, turns
    assert [t["speaker"] for t in turns][:2] == ["SPEAKER_00", "SPEAKER_01"]
    assert _accuracy(turns, truth) >= 0.9, turns


def test_one_voice_is_one_speaker(dialogue):
    samples, truth = dialogue
    first = samples[: int(truth[0][1] * audio.SAMPLE_RATE)]
    turns = DVectorDiarizer().diarize(first, prepare.find_speech(first))
    assert {t["speaker"] for t in turns} == {"SPEAKER_00"}


def test_max_speakers_caps_the_count(dialogue):
    samples, _ = dialogue
    turns = DVectorDiarizer().diarize(
        samples, prepare.find_speech(samples), SpeakerOptions(max_speakers=1)
    )
    assert {t["speaker"] for t in turns} == {"SPEAKER_00"}


def test_words_take_the_speaker_of_most_overlap_and_segments_split():
    turns = [
        {"start": 0.0, "end": 2.0, "speaker": "SPEAKER_00"},
        {"start": 2.0, "end": 4.0, "speaker": "SPEAKER_01"},
    ]
    words = [
        {"text": t, "start": s, "end": e}
        for t, s, e in [
            ("hello", 0.1, 0.5),
            ("there.", 0.6, 1.9),
            ("Hi", 1.95, 2.6),
            ("back.", 2.7, 3.5),
        ]
    ]
    segments = [
        {"id": 0, "start": 0.0, "end": 3.6, "text": "hello there. Hi back.", "words": words}
    ]
    out = merge.assign_speakers(segments, turns)
    assert [(s["speaker"], s["text"], s["start"], s["end"]) for s in out] == [
        ("SPEAKER_00", "hello there.", 0.0, 1.9),
        ("SPEAKER_01", "Hi back.", 1.95, 3.6),
    ]
    assert [w["speaker"] for s in out for w in s["words"]] == ["SPEAKER_00"] * 2 + [
        "SPEAKER_01"
    ] * 2
    assert merge.speaker_list(turns) == [
        {"id": "SPEAKER_00", "label": "Speaker 1", "total_seconds": 2.0},
        {"id": "SPEAKER_01", "label": "Speaker 2", "total_seconds": 2.0},
    ]


def test_words_outside_every_turn_take_the_nearest():
    turns = [
        {"start": 0.0, "end": 1.0, "speaker": "SPEAKER_00"},
        {"start": 5.0, "end": 6.0, "speaker": "SPEAKER_01"},
    ]
    seg = {
        "start": 4.0,
        "end": 4.5,
        "text": "um",
        "words": [{"text": "um", "start": 4.0, "end": 4.5}],
    }
    assert merge.assign_speakers([seg], turns)[0]["speaker"] == "SPEAKER_01"


def test_threshold_trades_splitting_for_merging(dialogue):
    """ElevenLabs' diarization_threshold: higher means fewer speakers (0.22 is the default)."""
    samples, _truth = dialogue
    regions = prepare.find_speech(samples)

    def count(threshold):
        turns = DVectorDiarizer().diarize(samples, regions, SpeakerOptions(threshold=threshold))
        return len({t["speaker"] for t in turns})

    assert count(0.22) == count(None) == 2
    assert count(0.1) > 2
    assert count(0.4) == 1
