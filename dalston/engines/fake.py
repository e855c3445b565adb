"""Fault-injection engines for tests: ``DALSTON_TRANSCRIBE_ENGINE=fake``.

``DALSTON_FAKE_BEHAVIOUR`` chooses what happens: ``error`` (the engine raises),
``garbage`` (returns malformed output), ``sleep:<seconds>`` (a slow task, to kill a worker
in the middle of it) or ``echo`` (one segment saying how long the chunk was). Never used
outside tests.
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
