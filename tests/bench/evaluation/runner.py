"""The measurements of ``make eval``, each returning plain rows (JSON-serialisable dicts).

Engines are used as the stages use them: audio decoded by ``dalston.audio`` to 16 kHz mono
(or one channel of it), speech regions from ``prepare.find_speech``, the transcriber's
``transcribe``, the aligner's ``align`` and the diarizer's ``diarize``, speakers given to
words by ``merge.assign_speakers``. One engine instance of each kind serves every
measurement, so each model is loaded once.
"""

from __future__ import annotations

import time
from pathlib import Path

from dalston import audio
from dalston.engines.base import SpeakerOptions
from tests.bench import synth
from tests.bench.evaluation import metrics, references
from tests.engine_helpers import transcribe_options


class Engines:
    """The three engines, created on first use (importing this module loads no model)."""

    def __init__(self, model_dir: Path, threads: int):
        self.model_dir, self.threads = Path(model_dir), threads
        self._transcriber = self._aligner = self._diarizer = None

    def transcribe(self, samples, model: str, **options) -> list[dict]:
        if self._transcriber is None:
            from dalston.engines.faster_whisper import FasterWhisperTranscriber

            self._transcriber = FasterWhisperTranscriber()
        segments, _language, _probability = self._transcriber.transcribe(
            samples, transcribe_options(model, self.model_dir, self.threads, **options)
        )
        return segments

    def align(self, samples, segments: list[dict]) -> list[dict]:
        if self._aligner is None:
            from dalston.engines.forced_align import PocketsphinxAligner

            self._aligner = PocketsphinxAligner()
        return self._aligner.align(samples, 0.0, segments)

    def diarize(self, samples, **options) -> list[dict]:
        if self._diarizer is None:
            from dalston.engines.dvector import DVectorDiarizer

            self._diarizer = DVectorDiarizer()
        from dalston.vad import find_speech

        return self._diarizer.diarize(samples, find_speech(samples), SpeakerOptions(**options))


def _text(segments: list[dict]) -> str:
    return " ".join(s["text"].strip() for s in segments).strip()


def _words(segments: list[dict]) -> list[dict]:
    return [w for s in segments for w in s.get("words") or []]


def transcripts(engines: Engines, fixtures: Path, models: list[str]) -> list[dict]:
    """WER of every model on every fixture with a reference text, and the hotword check."""
    rows = []
    for label, name, channel, reference in references.TRANSCRIPTS:
        decoded = audio.decode(fixtures / name)
        samples = decoded.mono if channel is None else decoded.channels[channel]
        for model in models:
            started = time.perf_counter()
            text = _text(engines.transcribe(samples, model))
            rows.append(
                {
                    "fixture": label,
                    "model": model,
                    "wer": metrics.wer(reference, text),
                    "reference_words": len(metrics.normalise(reference).split()),
                    "text": text,
                    "seconds": time.perf_counter() - started,
                }
            )
    samples = audio.decode(fixtures / references.HOTWORD_FILE).mono
    for model in models:
        for hint in (None, [references.HOTWORD]):
            text = _text(engines.transcribe(samples, model, vocabulary=hint))
            rows.append(
                {
                    "fixture": references.HOTWORD_FILE,
                    "model": model,
                    "hint": hint,
                    "hotword_found": references.HOTWORD.lower() in text.lower(),
                    "text": text,
                }
            )
    return rows


def diarization(engines: Engines, fixtures: Path) -> list[dict]:
    """DER on the AMI excerpts, speaker count found automatically and given, collar 0 and 0.25."""
    truth = metrics.read_rttm(fixtures / references.RTTM)
    rows = []
    for name in references.MEETINGS:
        samples = audio.decode(fixtures / f"{name}.wav").mono
        reference = truth[name]
        speakers = len({who for *_, who in reference})
        extent = (0.0, len(samples) / audio.SAMPLE_RATE)
        for count in (None, speakers):
            started = time.perf_counter()
            turns = engines.diarize(samples, num_speakers=count)
            hypothesis = [(t["start"], t["end"], t["speaker"]) for t in turns]
            row = {
                "file": name,
                "reference_speakers": speakers,
                "count": "given" if count else "automatic",
                "speakers_found": len({t["speaker"] for t in turns}),
                "seconds": time.perf_counter() - started,
            }
            for collar in (0.0, 0.25):
                scored = metrics.der(reference, hypothesis, collar=collar, extent=extent)
                row[f"collar_{collar}"] = {k: v for k, v in scored.items() if k != "mapping"}
            rows.append(row)
    return rows


def word_timing(engines: Engines, models: list[str], workdir: Path) -> list[dict]:
    """Word start/end MAE of Whisper's own times and of the forced aligner, on timed words."""
    samples, truth = synth.timed_words(workdir)
    rows = []
    for model in models:
        segments = engines.transcribe(samples, model)
        started = time.perf_counter()
        aligned = engines.align(samples, segments)
        align_seconds = time.perf_counter() - started
        for method, words in (("whisper", _words(segments)), ("pocketsphinx", _words(aligned))):
            start, end, matched = metrics.timing_errors(words, truth)
            rows.append(
                {
                    "model": model,
                    "timing": method,
                    "start_mae": start,
                    "end_mae": end,
                    "matched": matched,
                    "reference_words": len(truth),
                    "words": len(words),
                    "forced_aligned": sum(w.get("timing") == "forced_alignment" for w in words),
                    "seconds": align_seconds if method == "pocketsphinx" else None,
                }
            )
    return rows


def dialogue(engines: Engines, model: str, workdir: Path) -> list[dict]:
    """Words given the right speaker on the two-voice dialogue: pipeline order, aligned words."""
    from dalston.stages.merge import assign_speakers

    samples, truth = synth.dialogue(workdir)
    segments = engines.align(samples, engines.transcribe(samples, model))
    text_wer = metrics.wer(" ".join(synth.DIALOGUE), _text(segments))
    rows = []
    for count in (None, 2):
        turns = engines.diarize(samples, num_speakers=count)
        words = _words(assign_speakers(segments, turns))
        rows.append(
            {
                "model": model,
                "count": "given" if count else "automatic",
                "speakers_found": len({t["speaker"] for t in turns}),
                "right_speaker": metrics.right_speaker_share(words, truth),
                "words": len(words),
                "wer": text_wer,
            }
        )
    return rows
