"""Fault-injection engines for tests, and a stand-in for the hub-only whisperx-full engine.

``DALSTON_TRANSCRIBE_ENGINE=fake``: ``DALSTON_FAKE_BEHAVIOUR`` chooses what happens:
``error`` (the engine raises), ``garbage`` (returns malformed output), ``sleep:<seconds>`` (a
slow task, to kill a worker in the middle of it) or ``echo`` (one segment saying how long
the chunk was). ``DALSTON_DIARIZE_ENGINE=fake`` and ``DALSTON_WHISPERX_FULL_ENGINE=fake`` do
the same for diarization and for the whisperx-full pipeline, whose real weights cannot be
had offline, so that its one-task canvas can be tested end to end. Never used outside tests.
"""

from __future__ import annotations

import os
import time


class FakeTranscriber:
    name = "fake"

    def transcribe(self, samples, *, offset=0.0, on_progress=None, **_options):
        behaviour = os.environ.get("DALSTON_FAKE_BEHAVIOUR", "echo")
        duration = len(samples) / 16000.0
        if behaviour == "error":
            raise RuntimeError("injected engine failure")
        if behaviour == "garbage":
            return [{"start": "soon", "text": None}], None, None
        if behaviour.startswith("sleep:"):
            total = float(behaviour.split(":", 1)[1])
            steps = max(1, int(total / 0.5))
            for i in range(steps):
                time.sleep(total / steps)
                if on_progress:
                    on_progress((i + 1) / steps)
        text = f"chunk of {duration:.1f} seconds"
        return [{"start": offset, "end": offset + duration, "text": text, "words": []}], "en", 1.0


class FakeDiarizer:
    """``DALSTON_DIARIZE_ENGINE=fake``: fails as ``DALSTON_FAKE_BEHAVIOUR=error`` says, or
    calls all speech one speaker."""

    name = "fake"

    def diarize(self, samples, regions, **_options):
        if os.environ.get("DALSTON_FAKE_BEHAVIOUR", "echo") == "error":
            raise RuntimeError("injected diarization failure")
        return [{"start": r["start"], "end": r["end"], "speaker": "SPEAKER_00"} for r in regions]


class FakeFullPipeline:
    """Stand-in for whisperx-full: the file's two halves, each one word and one speaker."""

    name = "fake"

    def run(self, samples, *, diarize=False, language=None, **_options) -> dict:
        if os.environ.get("DALSTON_FAKE_BEHAVIOUR", "echo") == "error":
            raise RuntimeError("injected whisperx-full failure")
        duration = round(len(samples) / 16000.0, 3)
        half = round(duration / 2, 3)
        speakers = ("SPEAKER_00", "SPEAKER_01") if diarize else (None, None)
        words = [
            {"text": text, "start": a, "end": b, "confidence": 1.0, "timing": "wav2vec2"}
            for text, a, b in (("first", 0.0, half), ("second", half, duration))
        ]
        turns = [
            {"start": w["start"], "end": w["end"], "speaker": s} for w, s in zip(words, speakers)
        ]
        return {
            "segments": [{"start": 0.0, "end": duration, "text": "first second", "words": words}],
            "language": language or "en",
            "language_probability": None,
            "turns": turns if diarize else [],
        }
