"""Fault-injection engines for tests, and a stand-in for the hub-only whisperx-full engine.

Importing this module registers them with the engine registry (``dalston.engines.register``):
a test imports it in its own process, and a test that starts worker processes names it in
their ``DALSTON_ENGINE_PLUGINS`` (``tests.fakes``; ``tests.fakes_whisperx`` also puts the
stand-in in place of ``whisperx-full``). ``DALSTON_FAKE_BEHAVIOUR`` chooses what the fakes
do: ``error`` (the engine raises), ``garbage`` (malformed output), ``sleep:<seconds>`` (a
slow task, to kill a worker in the middle of it) or ``echo`` (one segment saying how long the
chunk was). With ``DALSTON_TRANSCRIBE_ENGINE=fake`` / ``DALSTON_DIARIZE_ENGINE=fake`` a
worker uses them as its default engines. Never shipped: this module lives in ``tests/``.
"""

from __future__ import annotations

import os
import time

from dalston import engines
from dalston.engines.base import Capabilities


def behaviour() -> str:
    return os.environ.get("DALSTON_FAKE_BEHAVIOUR", "echo")


class FakeTranscriber:
    name = "fake"
    capabilities = Capabilities()

    def __init__(self, settings=None):
        pass

    def transcribe(self, samples, options=None, *, offset=0.0, on_progress=None):
        duration = len(samples) / 16000.0
        if behaviour() == "error":
            raise RuntimeError("injected engine failure")
        if behaviour() == "garbage":
            return [{"start": "soon", "text": None}], None, None
        if behaviour().startswith("sleep:"):
            total = float(behaviour().split(":", 1)[1])
            steps = max(1, int(total / 0.5))
            for i in range(steps):
                time.sleep(total / steps)
                if on_progress:
                    on_progress((i + 1) / steps)
        text = f"chunk of {duration:.1f} seconds"
        return [{"start": offset, "end": offset + duration, "text": text, "words": []}], "en", 1.0


class FakeDiarizer:
    """Fails as ``DALSTON_FAKE_BEHAVIOUR=error`` says, or calls all speech one speaker."""

    name = "fake"
    capabilities = Capabilities()

    def __init__(self, settings=None):
        pass

    def diarize(self, samples, regions, options=None):
        if behaviour() == "error":
            raise RuntimeError("injected diarization failure")
        return [{"start": r["start"], "end": r["end"], "speaker": "SPEAKER_00"} for r in regions]


class FakeFullPipeline:
    """Stand-in for whisperx-full: the file's two halves, each one word and one speaker."""

    name = "fake"
    capabilities = Capabilities()

    def __init__(self, settings=None):
        pass

    def run(self, samples, options, *, on_progress=None) -> dict:
        if behaviour() == "error":
            raise RuntimeError("injected whisperx-full failure")
        duration = round(len(samples) / 16000.0, 3)
        half = round(duration / 2, 3)
        speakers = ("SPEAKER_00", "SPEAKER_01") if options.diarize else (None, None)
        words = [
            {"text": text, "start": a, "end": b, "confidence": 1.0, "timing": "wav2vec2"}
            for text, a, b in (("first", 0.0, half), ("second", half, duration))
        ]
        turns = [
            {"start": w["start"], "end": w["end"], "speaker": s} for w, s in zip(words, speakers)
        ]
        return {
            "segments": [{"start": 0.0, "end": duration, "text": "first second", "words": words}],
            "language": options.language or "en",
            "language_probability": None,
            "turns": turns if options.diarize else [],
        }


engines.register("transcriber", "fake", FakeTranscriber)
engines.register("diarizer", "fake", FakeDiarizer)
engines.register("pipeline", "fake", FakeFullPipeline)
