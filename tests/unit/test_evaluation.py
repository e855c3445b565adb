"""The scoring behind ``make eval``: DER parts by hand, collars, the speaker mapping, WER."""

from __future__ import annotations

import jiwer
import pytest

from tests.bench.evaluation import metrics

TWO_TURNS = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
#: trn06's turns in diarization.rttm: three speakers, two stretches with two at once.
OVERLAPPING = [
    (0.0, 8.856, "FEE083"),
    (3.528, 6.746, "MEO082"),
    (10.544, 11.192, "FEE083"),
    (11.419, 12.498, "FEE085"),
    (13.524, 30.0, "FEE083"),
    (21.799, 22.356, "FEE085"),
]


def _parts(result):
    return tuple(
        round(result[k], 6)
        for k in ("missed_seconds", "false_alarm_seconds", "confusion_seconds", "total_seconds")
    )


def test_a_perfect_hypothesis_scores_zero_whatever_its_labels():
    renamed = [(s, e, {"FEE083": "x", "MEO082": "y", "FEE085": "z"}[w]) for s, e, w in OVERLAPPING]
    for collar in (0.0, 0.25):
        result = metrics.der(OVERLAPPING, renamed, collar=collar)
        assert result["der"] == 0.0 and result["mapping"] == {
            "x": "FEE083",
            "y": "MEO082",
            "z": "FEE085",
        }


def test_a_late_boundary_is_missed_speech_then_confusion():
    # Everything one second late: [0, 1) nobody (missed), [10, 11) the wrong speaker.
    hypothesis = [(1.0, 11.0, "s1"), (11.0, 20.0, "s2")]
    result = metrics.der(TWO_TURNS, hypothesis)
    assert _parts(result) == (1.0, 0.0, 1.0, 20.0)
    assert result["der"] == pytest.approx(0.1)


def test_speech_where_nobody_speaks_is_false_alarm():
    hypothesis = [(0.0, 10.0, "s1"), (10.0, 21.5, "s2")]
    result = metrics.der(TWO_TURNS, hypothesis, extent=(0.0, 22.0))
    assert _parts(result) == (0.0, 1.5, 0.0, 20.0)
    assert result["false_alarm"] == pytest.approx(0.075)


def test_a_mislabelled_stretch_is_confusion():
    hypothesis = [(0.0, 15.0, "s1"), (15.0, 20.0, "s2")]
    result = metrics.der(TWO_TURNS, hypothesis)
    assert result["mapping"] == {"s1": "A", "s2": "B"}
    assert _parts(result) == (0.0, 0.0, 5.0, 20.0)
    assert result["der"] == pytest.approx(0.25)


def test_one_speaker_for_everything_confuses_the_minority():
    result = metrics.der(TWO_TURNS[:1] + [(10.0, 12.0, "B")], [(0.0, 12.0, "s1")])
    assert _parts(result) == (0.0, 0.0, 2.0, 12.0)


def test_the_collar_removes_a_quarter_second_either_side_of_every_reference_boundary():
    hypothesis = [(1.0, 11.0, "s1"), (11.0, 20.0, "s2")]
    result = metrics.der(TWO_TURNS, hypothesis, collar=0.25)
    # Not scored: [0, 0.25), [9.75, 10.25), [19.75, 20): 20 − 0.25 − 0.5 − 0.25 = 19 s.
    assert result["total_seconds"] == pytest.approx(19.0)
    # Missed [0.25, 1), confused [10.25, 11).
    assert _parts(result) == (0.75, 0.0, 0.75, 19.0)
    # A collar wider than the error forgives it.
    assert metrics.der(TWO_TURNS, [(0.2, 10.2, "s1"), (10.2, 20.0, "s2")], collar=0.25)[
        "der"
    ] == pytest.approx(0.0)


def test_collars_around_overlapping_turns_merge():
    result = metrics.der([(0.0, 2.0, "A"), (1.9, 4.0, "B")], [(0.0, 4.0, "s")], collar=0.25)
    # Excluded: [0, 0.25), [1.65, 2.25) (boundaries 1.9 and 2.0 merge), [3.75, 4).
    scored = 4.0 - 0.25 - 0.6 - 0.25
    assert result["total_seconds"] == pytest.approx(scored)


def test_the_mapping_is_optimal_not_greedy():
    # s1 shares 10 s with A and 9 s with B; s2 shares 8 s with A only. Greedy mapping takes
    # s1→A (10 s) and leaves s2 nothing; the best one-to-one map is s1→B, s2→A (17 s).
    reference = [(0.0, 18.0, "A"), (18.0, 27.0, "B")]
    hypothesis = [(0.0, 8.0, "s2"), (8.0, 27.0, "s1")]
    assert metrics.optimal_mapping(reference, hypothesis) == {"s1": "B", "s2": "A"}
    result = metrics.der(reference, hypothesis)
    assert _parts(result) == (0.0, 0.0, 10.0, 27.0)


def test_extra_hypothesis_speakers_stay_unmapped_and_count_as_confusion():
    hypothesis = [(0.0, 10.0, "s1"), (10.0, 15.0, "s2"), (15.0, 20.0, "s3")]
    result = metrics.der(TWO_TURNS, hypothesis)
    assert len(result["mapping"]) == 2
    assert _parts(result) == (0.0, 0.0, 5.0, 20.0)


def test_overlap_counts_every_speaker():
    reference = [(0.0, 10.0, "A"), (5.0, 10.0, "B")]
    # Two speakers at once for 5 s: 15 s of reference speech.
    one_voice = metrics.der(reference, [(0.0, 10.0, "s1")])
    assert _parts(one_voice) == (5.0, 0.0, 0.0, 15.0)
    assert one_voice["der"] == pytest.approx(1 / 3)
    both = metrics.der(reference, [(0.0, 10.0, "s1"), (5.0, 10.0, "s2")])
    assert both["der"] == 0.0
    # Two hypothesis speakers where one reference speaker talks: one of them is false alarm.
    doubled = metrics.der([(0.0, 10.0, "A")], [(0.0, 10.0, "s1"), (0.0, 4.0, "s2")])
    assert _parts(doubled) == (0.0, 4.0, 0.0, 10.0)


def test_the_shared_fixture_reference_scores_itself_zero_and_one_speaker_as_measured():
    result = metrics.der(OVERLAPPING, [(0.0, 30.0, "s")], extent=(0.0, 30.0))
    # Missed: MEO082 under FEE083, FEE085 under FEE083, and nobody's talk in between.
    assert result["missed_seconds"] == pytest.approx(3.218 + 0.557)
    assert result["confusion_seconds"] == pytest.approx(12.498 - 11.419)
    assert result["false_alarm_seconds"] == pytest.approx(
        (10.544 - 8.856) + (11.419 - 11.192) + (13.524 - 12.498)
    )


def test_rttm_is_read_as_start_end_speaker(tmp_path):
    path = tmp_path / "ref.rttm"
    path.write_text(
        "SPEAKER trn03 1 0.000 1.184 <NA> <NA> MEE067 <NA> <NA>\n"
        "SPEAKER trn03 1 1.104 28.896 <NA> <NA> MÉO069 <NA> <NA>\n"
        "SPEAKER other 1 2.5 1.0 <NA> <NA> X <NA> <NA>\n",
        encoding="utf-8",
    )
    turns = metrics.read_rttm(path)
    assert turns["trn03"] == [(0.0, 1.184, "MEE067"), (1.104, 30.0, "MÉO069")]
    assert turns["other"] == [(2.5, 3.5, "X")]


def test_right_speaker_share_maps_voices_one_to_one():
    truth = [(0.0, 2.0, 0), (2.5, 4.0, 1)]
    words = [
        {"start": 0.1, "end": 0.5, "speaker": "S1"},
        {"start": 0.6, "end": 1.0, "speaker": "S1"},
        {"start": 1.2, "end": 1.8, "speaker": "S0"},
        {"start": 2.6, "end": 3.0, "speaker": "S0"},
        {"start": 9.0, "end": 9.5, "speaker": "S0"},  # outside every turn: not scored
    ]
    assert metrics.right_speaker_share(words, truth) == pytest.approx(3 / 4)
    # Everything given to one speaker: only one voice can be right.
    same = [dict(w, speaker="S0") for w in words]
    assert metrics.right_speaker_share(same, truth) == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    "reference,hypothesis,errors",
    [
        ("And so my fellow Americans, ask not", "and so my fellow Americans ask not", 0 / 7),
        ("the horizon seems extremely distant", "the horizon seem extreme distant now", 3 / 5),
        ("re-open the file", "reopen file", 3 / 4),  # "re open the file": 1 S + 2 D
        ("one two three", "", 3 / 3),
        ("a b c d", "x a b y d z", 3 / 4),
        ("", "", 0.0),
        ("", "anything", 1.0),
    ],
)
def test_wer_is_jiwers_on_normalised_text(reference, hypothesis, errors):
    assert metrics.wer(reference, hypothesis) == pytest.approx(errors)
    if metrics.normalise(reference) and metrics.normalise(hypothesis):
        expected = jiwer.wer(metrics.normalise(reference), metrics.normalise(hypothesis))
        assert metrics.wer(reference, hypothesis) == pytest.approx(expected)
