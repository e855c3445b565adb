"""The streaming engine's decoder: faster-whisper over one bounded window of audio.

The streaming engine asks for a decode of at most its window (seconds of audio) with a
text prompt; this runs faster-whisper's sequential decoder on it once, deterministically
(temperature 0 and no fallback, beam search), with word timestamps, and returns plain
words. The model is the one the transcribe engine loads (``FasterWhisperTranscriber.load``),
so a worker shares weights between sessions.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

#: More tokens than this per second of audio is a decoder loop, not speech.
MAX_TOKENS_PER_SECOND = 8
#: Whisper's own thresholds (``transcribe.py``): with one temperature there is no fallback
#: to retry with, so a segment failing them is dropped instead.
COMPRESSION_RATIO_THRESHOLD = 2.4
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0


def _hallucinated(seg) -> bool:
    """A repetition loop, or what Whisper itself would call silence."""
    if seg.compression_ratio > COMPRESSION_RATIO_THRESHOLD:
        return True
    return seg.no_speech_prob > NO_SPEECH_THRESHOLD and seg.avg_logprob < LOG_PROB_THRESHOLD


@dataclasses.dataclass(frozen=True)
class Decoded:
    """What one decode found: words (start/end in seconds from the window's start)."""

    words: list[dict]
    language: str | None
    language_probability: float | None


class WhisperDecoder:
    """Decode windows with one loaded ``faster_whisper.WhisperModel``.

    A CTranslate2 model decodes one batch at a time per replica; several sessions in one
    worker take turns through a lock, so one session's decode never slows inside another's
    (``DALSTON_CPU_THREADS`` threads each).
    """

    def __init__(self, model, beam_size: int = 5):
        self.model = model
        self.beam_size = beam_size
        self.multilingual = bool(getattr(model, "model", None) and model.model.is_multilingual)
        self._lock = threading.Lock()

    def decode(
        self,
        samples: np.ndarray,
        *,
        prompt: str | None = None,
        language: str | None = None,
        hotwords: str | None = None,
        beam_size: int | None = None,
    ) -> Decoded:
        if not self.multilingual:
            language = "en"
        with self._lock:
            segments, info = self.model.transcribe(
                samples,
                language=language,
                beam_size=beam_size or self.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                initial_prompt=prompt or None,
                hotwords=hotwords or None,
                word_timestamps=True,
                vad_filter=False,
                without_timestamps=False,
                max_new_tokens=int(MAX_TOKENS_PER_SECOND * len(samples) / 16000) + 16,
            )
            words = []
            for seg in segments:
                if _hallucinated(seg):
                    continue
                for w in seg.words or []:
                    text = w.word.strip()
                    if text:
                        words.append(
                            {
                                "text": text,
                                "start": float(w.start),
                                "end": float(w.end),
                                "confidence": float(w.probability),
                            }
                        )
        return Decoded(words, info.language, float(info.language_probability))
