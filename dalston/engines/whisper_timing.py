"""The ``whisper`` align engine: keep faster-whisper's own word timings.

A request that asks for ``align_engine=whisper`` wants no forced alignment, for instance
for a language no aligner covers or to compare methods. Its align task still runs (the
canvas is the same), but only labels every word ``timing: "whisper"``.
"""

from __future__ import annotations


class WhisperTimings:
    name = "whisper"
    #: No language is aligned: the align stage labels the words without loading any audio.
    languages: tuple[str, ...] = ()

    def align(self, samples, offset: float, segments: list[dict], **_options) -> list[dict]:
        return [
            dict(seg, words=[dict(w, timing="whisper") for w in seg.get("words") or []])
            for seg in segments
        ]
