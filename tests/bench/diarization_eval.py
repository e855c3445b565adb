"""Diarization benchmark: DER and JER with pyannote.metrics, per file and pooled.

    python -m tests.bench.diarization_eval --json bench-results/diarization.json

Scores, on the eight 30 s AMI excerpts of ``shared/fixtures/audio`` (reference turns in
``diarization.rttm``) and on a two-voice espeak-ng dialogue with overlapped turns:

- ``one-speaker``: every voice-activity region (``prepare.find_speech``) given to one
  speaker, the answer any diarizer has to beat; and the stricter ``one-spk on ref speech``:
  the reference speech given to one speaker (a one-speaker answer with perfect VAD);
- each diarizer engine named with ``--engines`` (default ``dvector`` and ``neural``), with
  the speaker count left to the engine.

Also the word-level view (skip it with ``--no-words``): faster-whisper base transcribes each
file once, merge's ``assign_speakers`` gives each word the speaker of the turns it overlaps
most, and a word is right when its speaker, mapped one-to-one onto the reference speakers,
is one of those talking at its midpoint.

Metrics follow pyannote's conventions: ``skip_overlap`` off (overlapped reference speech is
scored), collar 0 and 0.5 s (the *total* width of the no-score zone around each reference
boundary, 0.25 s on each side). "Pooled" is pyannote's aggregate over files: total error
over total reference speech for DER. Each engine runs in its own process, so its wall time
(real-time factor, model loading excluded) and peak resident memory are its own.
pyannote.metrics needs no torch.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import resource
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "audio"
AMI = ["trn00", "trn01", "trn02", "trn03", "trn04", "trn06", "trn07", "trn08"]
COLLARS = (0.0, 0.5)
#: The reference speech itself given to one speaker: a one-speaker answer with perfect
#: voice activity detection, the stricter baseline.
ORACLE = "one-spk on ref speech"

#: The synthetic dialogue: (voice, text, seconds the line starts before the previous ends;
#: negative = a pause). Three of the seven changes of speaker overlap the previous line.
OVERLAP_DIALOGUE = [
    ("en-us", "Good morning everyone, thank you for joining the planning meeting today.", 0),
    ("en+f3", "Thanks for having me. I have the latest numbers from the survey with me.", -0.5),
    ("en-us", "Great, could you start with the results from the northern section?", 0.8),
    ("en+f3", "Of course. We counted eleven places where the path had washed away.", -0.4),
    ("en-us", "That is more than we expected.", 1.0),
    ("en+f3", "Yes, far more. The storms in the spring were the worst in years.", 0.6),
    ("en-us", "What do you think we should do first?", -0.6),
    ("en+f3", "I suggest we photograph every damaged place before the end of the month.", -0.4),
]


def read_rttm(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """``{file: [(start, end, speaker)]}`` from an RTTM file."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            out.setdefault(f[1], []).append((start, start + dur, f[7]))
    return out


def _espeak(text: str, voice: str, out: Path) -> np.ndarray:
    """espeak-ng's reading of ``text`` at 16 kHz, with its leading/trailing silence cut."""
    from dalston import audio

    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
    speech = audio.decode(out).mono
    loud = np.where(np.abs(speech) > 1e-3)[0]
    return speech[loud[0] : loud[-1] + 1] if len(loud) else speech


def overlap_dialogue(workdir: Path, lines=OVERLAP_DIALOGUE):
    """Two espeak-ng voices with overlapped turns, mixed with numpy.

    Returns ``(samples, [(start, end, speaker)])``; the reference turns are where each
    line's (trimmed) speech lies in the mix, so overlaps are exact.
    """
    clips, truth, t, prev_end = [], [], 0.5, 0.0
    for i, (voice, text, lead) in enumerate(lines):
        speech = _espeak(text, voice, Path(workdir) / f"line-{i}.wav")
        start = t if i == 0 else max(0.0, prev_end - lead)
        clips.append((int(start * SAMPLE_RATE), speech))
        end = start + len(speech) / SAMPLE_RATE
        truth.append((round(start, 3), round(end, 3), voice))
        prev_end = end
    total = max(s + len(c) for s, c in clips) + SAMPLE_RATE // 2
    mix = np.zeros(total, dtype=np.float32)
    for s, c in clips:
        mix[s : s + len(c)] += c
    mix /= max(1.0, float(np.abs(mix).max()) / 0.9)
    return mix, truth


def _annotation(turns, uri: str):
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, (start, end, speaker) in enumerate(turns):
        if end > start:
            ann[Segment(start, end), i] = speaker
    return ann


def score(reference: dict, hypothesis: dict) -> dict:
    """DER/JER per file and pooled, at each collar: ``{collar: {file|"pooled": {der, jer}}}``."""
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    warnings.filterwarnings("ignore", message="'uem' was approximated", module="pyannote")
    out = {}
    for collar in COLLARS:
        der = DiarizationErrorRate(collar=collar, skip_overlap=False)
        jer = JaccardErrorRate(collar=collar, skip_overlap=False)
        rows = {}
        for uri in reference:
            ref, hyp = _annotation(reference[uri], uri), _annotation(hypothesis[uri], uri)
            rows[uri] = {"der": der(ref, hyp), "jer": jer(ref, hyp)}
        rows["pooled"] = {"der": abs(der), "jer": abs(jer)}
        out[str(collar)] = rows
    return out


def transcribe_words(inputs: dict[str, np.ndarray], model_dir: Path, model: str = "base"):
    """``{file: segments}`` with word times from faster-whisper, as the transcribe stage."""
    from dalston.engines.faster_whisper import FasterWhisperTranscriber

    engine = FasterWhisperTranscriber()
    return {
        uri: engine.transcribe(samples, model=model, model_dir=model_dir, cpu_threads=2)[0]
        for uri, samples in inputs.items()
    }


def word_speakers(segments: list[dict], turns, reference) -> tuple[int, int]:
    """(right, scored): words given a speaker by merge (largest overlap share) whose speaker,
    mapped one-to-one onto the reference speakers (most shared words), is one of the
    reference speakers talking at the word's midpoint. Words where nobody talks in the
    reference are not scored; with overlap, either talker is right."""
    from scipy.optimize import linear_sum_assignment

    from dalston.stages.merge import assign_speakers

    hyp_turns = [{"start": a, "end": b, "speaker": s} for a, b, s in turns]
    words = [w for seg in assign_speakers(segments, hyp_turns) for w in seg.get("words") or []]
    scored = []
    for w in words:
        middle = (w["start"] + w["end"]) / 2
        talking = {s for a, b, s in reference if a <= middle <= b}
        if talking:
            scored.append((w.get("speaker"), talking))
    hyps = sorted({h for h, _ in scored if h is not None})
    refs = sorted({r for _, t in scored for r in t})
    if not hyps:
        return 0, len(scored)
    shared = np.zeros((len(hyps), len(refs)))
    for h, talking in scored:
        if h is not None:
            for r in talking:
                shared[hyps.index(h), refs.index(r)] += 1
    rows, cols = linear_sum_assignment(-shared)
    mapping = {hyps[r]: refs[c] for r, c in zip(rows, cols)}
    return sum(mapping.get(h) in talking for h, talking in scored), len(scored)


def _run_engine(name: str, inputs: dict[str, np.ndarray]) -> dict:
    """In a child process: the engine's turns, wall time per file and peak memory."""
    from dalston.stages.prepare import find_speech

    if name != "one-speaker":
        from dalston.engines import get_engine

        engine = get_engine("diarizer", name)
        if hasattr(engine, "_load"):
            engine._load()  # model loading is not part of the real-time factor
    turns, seconds = {}, {}
    for uri, samples in inputs.items():
        regions = find_speech(samples)
        t0 = time.perf_counter()
        if name == "one-speaker":
            out = [{"start": r["start"], "end": r["end"], "speaker": "SPEAKER_00"} for r in regions]
        else:
            # Called even where the VAD found nothing (trn02): the neural engine finds speech
            # itself. (The diarize stage skips such files; see the README.)
            out = engine.diarize(samples, regions)
        seconds[uri] = time.perf_counter() - t0
        turns[uri] = [(t["start"], t["end"], t["speaker"]) for t in out]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"turns": turns, "seconds": seconds, "peak_mb": peak_mb}


def run(engines: list[str], fixtures: Path, workdir: Path, model_dir: Path | None = None) -> dict:
    """Every engine on every file; with ``model_dir``, also the word-level view (each word
    of faster-whisper base's transcript given its speaker by merge)."""
    from dalston import audio

    reference = {k: v for k, v in read_rttm(fixtures / "diarization.rttm").items() if k in AMI}
    inputs = {uri: audio.decode(fixtures / f"{uri}.wav").mono for uri in AMI}
    samples, truth = overlap_dialogue(workdir)
    inputs["dialogue"] = samples
    reference["dialogue"] = truth
    segments = transcribe_words(inputs, model_dir) if model_dir else None
    results = {}
    ctx = multiprocessing.get_context("spawn")
    for name in [ORACLE, "one-speaker", *engines]:
        if name == ORACLE:
            got = {
                "turns": {u: [(a, b, "SPEAKER_00") for a, b, _ in reference[u]] for u in inputs},
                "seconds": {u: 0.0 for u in inputs},
                "peak_mb": 0.0,
            }
        else:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                got = pool.submit(_run_engine, name, inputs).result()
        ami_ref = {u: reference[u] for u in AMI}
        duration = {u: len(x) / SAMPLE_RATE for u, x in inputs.items()}
        results[name] = {
            "ami": score(ami_ref, {u: got["turns"][u] for u in AMI}),
            "dialogue": score(
                {"dialogue": reference["dialogue"]}, {"dialogue": got["turns"]["dialogue"]}
            )
            | {},
            "speakers": {
                u: {
                    "reference": len({s for _, _, s in reference[u]}),
                    "found": len({s for _, _, s in got["turns"][u]}),
                }
                for u in inputs
            },
            "rtf": sum(got["seconds"].values()) / sum(duration.values()),
            "peak_mb": got["peak_mb"],
            "turns": got["turns"],
        }
        if segments is not None:
            words = {u: word_speakers(segments[u], got["turns"][u], reference[u]) for u in inputs}
            ami_right = sum(words[u][0] for u in AMI)
            ami_scored = sum(words[u][1] for u in AMI)
            results[name]["words"] = {
                **{u: {"right": r, "scored": n} for u, (r, n) in words.items()},
                "pooled": {"right": ami_right, "scored": ami_scored},
            }
    return results


def table(results: dict) -> str:
    lines = []
    head = f"{'file':10}" + "".join(
        f"{name[:22]:>24}" for name in results
    )  # DER c0 / c0.5, JER c0.5, count
    lines.append(head)
    lines.append(f"{'':10}" + "".join(f"{'DER0  DER.5  JER.5  n':>24}" for _ in results))
    for uri in [*AMI, "pooled", "dialogue"]:
        row = f"{uri:10}"
        for res in results.values():
            part = res["dialogue"] if uri == "dialogue" else res["ami"]
            key = "dialogue" if uri == "dialogue" else uri
            c0, c5 = part["0.0"][key], part["0.5"][key]
            if uri == "pooled":
                good = sum(
                    v["found"] == v["reference"] for u, v in res["speakers"].items() if u in AMI
                )
                count = f"{good}/8"
            else:
                sp = res["speakers"][uri]
                count = f"{sp['found']}/{sp['reference']}"
            row += f"{c0['der']:>8.1%}{c5['der']:>7.1%}{c5['jer']:>7.1%}{count:>5}".rjust(24)
        lines.append(row)
    if all("words" in res for res in results.values()):
        for key, label in (("pooled", "words AMI"), ("dialogue", "words dlg")):
            cells = []
            for res in results.values():
                w = res["words"][key]
                share = w["right"] / w["scored"] if w["scored"] else 0.0
                cells.append(f"{share:.1%} of {w['scored']}".rjust(24))
            lines.append(f"{label:10}" + "".join(cells))
    lines.append(
        f"{'RTF/peak':10}"
        + "".join(
            f"{res['rtf']:>12.3f}{res['peak_mb']:>9.0f} MB".rjust(24) for res in results.values()
        )
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="dvector,neural")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--model-dir", type=Path, help="Whisper models (default: DALSTON_MODEL_DIR's setting)"
    )
    parser.add_argument(
        "--no-words", action="store_true", help="skip the word-level view (no transcription)"
    )
    args = parser.parse_args(argv)
    model_dir = None
    if not args.no_words:
        from dalston.config import get_settings

        model_dir = args.model_dir or get_settings().model_dir
    engines = [e for e in args.engines.split(",") if e]
    with tempfile.TemporaryDirectory() as tmp:
        results = run(engines, args.fixtures, Path(tmp), model_dir)
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
