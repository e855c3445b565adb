"""The ``whisper`` align engine: keep faster-whisper's own word timings.

A request that asks for ``align_engine=whisper`` wants no forced alignment, for instance
for a language no aligner covers or to compare methods. Its align task still runs (the
canvas is the same), but only labels every word ``timing: "whisper"``.
"""

from __future__ import annotations

from dalston.config import Settings
from dalston.engines.base import Capabilities


class WhisperTimings:
    name = "whisper"
    #: Times no word itself: the align stage labels the words without loading any audio.
    capabilities = Capabilities(word_timing=False)

    def __init__(self, settings: Settings | None = None):
        pass

    def align(
        self, samples, offset: float, segments: list[dict], *, language: str = "en"
    ) -> list[dict]:
        return [
            dict(seg, words=[dict(w, timing="whisper") for w in seg.get("words") or []])
            for seg in segments
        ]
