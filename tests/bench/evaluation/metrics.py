"""Scoring for ``make eval``, ``make bench`` and the tests: word error rate, word-timing
error, diarization error rate and word-to-speaker accuracy.

WER (``wer``) is jiwer's on ``normalise``-d text. Word timing (``timing_errors``) is scored on
the words that match the reference in order.

DER follows NIST md-eval (and pyannote.metrics): the timeline is cut at every reference
and hypothesis boundary; in a stretch of duration d with R reference and H hypothesis
speakers, of which C pairs are matched by the speaker mapping,

* total  += d · R        (two people talking at once count twice)
* missed += d · max(0, R − H)
* false alarm += d · max(0, H − R)
* confusion += d · (min(R, H) − C)

and DER = (missed + false alarm + confusion) / total. The mapping is the one-to-one map of
hypothesis to reference speakers that maximises the time they share in the scored part
(Hungarian algorithm, as pyannote.metrics; md-eval maps greedily, which can only score
worse). A collar of ``c`` seconds removes ±c around every reference turn's start and end
from scoring (md-eval's ``-c c``; pyannote.metrics calls the same thing ``collar=2c``),
forgiving boundaries that a human annotator could not place more exactly. Computed on exact
segment boundaries, so no frame rate enters the result. A speaker's own overlapping turns
count once. On 60 random reference/hypothesis pairs (with overlap, collar 0 and 0.25 s) the
four parts equal pyannote.metrics 4.2.0's ``DiarizationErrorRate(collar=2c)`` to 1e-6.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import jiwer
import numpy as np

Turn = tuple[float, float, str]  # (start, end, speaker)


def normalise(text: str) -> str:
    """What WER is computed on: lower case, hyphens as spaces, punctuation out, single spaces.

    Apostrophes stay ("don't" is one word); digits stay as digits, so "11" against "eleven"
    counts as an error — the references are written the way Whisper writes them.
    """
    text = (text or "").lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` on normalised text, (S + D + I) / reference words, by
    jiwer: the one WER of the tests, ``make eval`` and ``make bench``.

    An empty hypothesis scores 1.0 (every word deleted); against an empty reference, 0.0 for
    an empty hypothesis and 1.0 for any other.
    """
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return float(bool(hyp))
    # One token that no normalised word can equal: 1 substitution + (n - 1) deletions, the
    # same n errors as an empty hypothesis, which older jiwer versions refuse.
    return float(jiwer.wer(ref, hyp or "<empty>"))


def timing_errors(words: list[dict], truth) -> tuple[float, float, int]:
    """(mean |start error|, mean |end error|, words matched) — words matched by text in order.

    Only words whose normalised text matches the reference word in an in-order alignment
    (difflib) are scored, so a misrecognised word costs coverage, not timing.
    """
    hyp = [normalise(w["text"]) for w in words]
    ref = [w for w, _, _ in truth]
    starts, ends = [], []
    for block in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            _, s, e = truth[block.a + k]
            w = words[block.b + k]
            starts.append(abs(w["start"] - s))
            ends.append(abs(w["end"] - e))
    if not starts:
        return float("nan"), float("nan"), 0
    return float(np.mean(starts)), float(np.mean(ends)), len(starts)


def read_rttm(path: Path) -> dict[str, list[Turn]]:
    """RTTM ``SPEAKER`` lines → {file id: [(start, end, speaker)]}."""
    out: dict[str, list[Turn]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            out.setdefault(fields[1], []).append((start, start + duration, fields[7]))
    return out


def _scored_spans(reference: list[Turn], collar: float, extent: tuple[float, float]):
    """The [a, b) spans that are scored: the extent minus ±collar around reference boundaries."""
    lo, hi = extent
    if collar <= 0:
        return [(lo, hi)]
    holes = sorted((t - collar, t + collar) for start, end, _ in reference for t in (start, end))
    spans, cursor = [], lo
    for a, b in holes:
        if a > cursor:
            spans.append((cursor, min(a, hi)))
        cursor = max(cursor, b)
    if cursor < hi:
        spans.append((cursor, hi))
    return [(a, b) for a, b in spans if b > a]


def _elementary(reference: list[Turn], hypothesis: list[Turn], spans):
    """(duration, reference speakers, hypothesis speakers) for every stretch between boundaries."""
    points = {p for a, b in spans for p in (a, b)}
    points.update(p for s, e, _ in reference + hypothesis for p in (s, e))
    cuts = sorted(points)
    out = []
    for a, b in zip(cuts, cuts[1:]):
        mid = (a + b) / 2
        if not any(lo <= mid < hi for lo, hi in spans):
            continue
        ref = {who for s, e, who in reference if s <= mid < e}
        hyp = {who for s, e, who in hypothesis if s <= mid < e}
        out.append((b - a, ref, hyp))
    return out


def _assign(shared: np.ndarray, hyps: list[str], refs: list[str]) -> dict[str, str]:
    """Hungarian assignment on a (hypothesis × reference) matrix of shared amounts."""
    from scipy.optimize import linear_sum_assignment

    if shared.size == 0:
        return {}
    rows, cols = linear_sum_assignment(shared, maximize=True)
    return {hyps[i]: refs[j] for i, j in zip(rows, cols) if shared[i, j] > 0}


def optimal_mapping(reference: list[Turn], hypothesis: list[Turn]) -> dict[str, str]:
    """Hypothesis speaker → reference speaker, one-to-one, maximising shared time."""
    extent = (0.0, max([e for _, e, _ in reference + hypothesis], default=0.0))
    return _mapping(_elementary(reference, hypothesis, [extent]))


def _mapping(stretches) -> dict[str, str]:
    refs = sorted({r for _, ref, _ in stretches for r in ref})
    hyps = sorted({h for _, _, hyp in stretches for h in hyp})
    shared = np.zeros((len(hyps), len(refs)))
    for d, ref, hyp in stretches:
        for h in hyp:
            for r in ref:
                shared[hyps.index(h), refs.index(r)] += d
    return _assign(shared, hyps, refs)


def der(
    reference: list[Turn],
    hypothesis: list[Turn],
    collar: float = 0.0,
    extent: tuple[float, float] | None = None,
) -> dict:
    """Diarization error rate and its parts, in seconds and as shares of the scored speech.

    Args:
        extent: the scored part of the timeline (default: from 0 to the last turn's end);
            hypothesis speech outside every reference turn inside it is false alarm.
    """
    if extent is None:
        extent = (0.0, max([e for _, e, _ in reference + hypothesis], default=0.0))
    stretches = _elementary(reference, hypothesis, _scored_spans(reference, collar, extent))
    mapping = _mapping(stretches)
    total = missed = false_alarm = confusion = 0.0
    for d, ref, hyp in stretches:
        matched = sum(1 for h in hyp if mapping.get(h) in ref)
        total += d * len(ref)
        missed += d * max(0, len(ref) - len(hyp))
        false_alarm += d * max(0, len(hyp) - len(ref))
        confusion += d * (min(len(ref), len(hyp)) - matched)
    share = (lambda x: x / total) if total else (lambda x: 0.0 if x == 0 else float("inf"))
    return {
        "der": share(missed + false_alarm + confusion),
        "missed": share(missed),
        "false_alarm": share(false_alarm),
        "confusion": share(confusion),
        "total_seconds": total,
        "missed_seconds": missed,
        "false_alarm_seconds": false_alarm,
        "confusion_seconds": confusion,
        "mapping": mapping,
    }


def right_speaker_share(words: list[dict], truth: list[tuple[float, float, int]]) -> float:
    """Share of words whose speaker is the mapped speaker of the voice speaking at its midpoint.

    Voices map to hypothesis speakers one-to-one by the most words shared (Hungarian), so a
    diarizer that splits one voice in two is penalised for the smaller part. Words more than
    0.3 s outside every reference turn are not scored.
    """
    scored = []
    for word in words:
        middle = (word["start"] + word["end"]) / 2
        voice = next((v for a, b, v in truth if a - 0.3 <= middle <= b + 0.3), None)
        if voice is not None:
            scored.append((str(voice), str(word.get("speaker"))))
    if not scored:
        return 0.0
    refs = sorted({v for v, _ in scored})
    hyps = sorted({h for _, h in scored})
    counts = np.zeros((len(hyps), len(refs)))
    for v, h in scored:
        counts[hyps.index(h), refs.index(v)] += 1
    mapping = _assign(counts, hyps, refs)
    return sum(mapping.get(h) == v for v, h in scored) / len(scored)
