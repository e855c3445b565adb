"""The ``whisper`` align engine: keep faster-whisper's own word timings.

A request that asks for ``align_engine=whisper`` wants no forced alignment, for instance
for a language no aligner covers or to compare methods. Its chunks skip the align task
(``JobOptions.needs_align``: merge labels their words ``timing: "whisper"``); this engine
is what an align worker whose default it is (``DALSTON_ALIGN_ENGINE=whisper``) runs for
requests that name no engine: it labels the words the same way.
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
        self,
        samples,
        offset: float,
        segments: list[dict],
        *,
        language: str = "en",
        characters: bool = False,
    ) -> list[dict]:
        return [
            dict(seg, words=[dict(w, timing="whisper") for w in seg.get("words") or []])
            for seg in segments
        ]
