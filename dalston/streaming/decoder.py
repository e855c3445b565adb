"""The streaming engine's decoder: faster-whisper over one bounded window of audio.

The streaming engine asks for a decode of at most its window (seconds of audio) with a
text prompt; this runs faster-whisper's sequential decoder on it once, deterministically
(temperature 0 and no fallback, beam search), with word timestamps, and returns plain
words. The model is the one the transcribe engine loads (``FasterWhisperTranscriber.load``),
so a worker shares weights between sessions.

Sessions share the model through a :class:`ModelGate`: commits queue for it in order, a
partial takes it only when it is free and no commit waits (otherwise the partial is shed,
``None``). Batching several sessions' windows into one forward pass was measured and not
taken: on this CPU the encoder, which costs the same for any window (Whisper pads to
30 s), takes as long for a batch of four as for four batches of one (1.5 s against
4 x 0.4 s, tiny.en int8, 2 threads), so a batch would only make every member wait for the
slowest.
"""

from __future__ import annotations

import collections
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


def _drop_unaligned(words: list[dict]) -> list[dict]:
    """Without runs of two or more words that the alignment gives no duration.

    Words Whisper writes without hearing them (an invented sentence opening: "I think it's
    good to see you guys in five years" on trn06, where the audio starts at "five years")
    align to no audio: they pile up at one instant, end equal to start. One such word alone
    is kept (a short real word sometimes aligns so).
    """
    out, run = [], []
    for word in words + [None]:
        if word is not None and word["end"] <= word["start"]:
            run.append(word)
            continue
        if len(run) == 1:
            out.extend(run)
        run = []
        if word is not None:
            out.append(word)
    return out


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


class ModelGate:
    """Who decodes next on a shared model: commits first, in order; partials only if idle.

    A CTranslate2 model decodes one batch at a time per replica, so sessions take turns
    (one session's decode never slows inside another's, ``DALSTON_CPU_THREADS`` threads
    each). A commit is what a client waits for and the session's lag grows while it waits,
    so an urgent caller queues (first come, first served) and goes before any partial. A
    partial is best-effort and superseded by the next one anyway: if the model is busy or a
    commit is queued it does not wait (which would hold up the session's audio and add to
    its lag) but is refused; the session tries again with newer audio at its next frame.
    Under load partials thus space out while commits stay one decode away.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._busy = False
        self._queue: collections.deque = collections.deque()

    def acquire(self, urgent: bool) -> bool:
        with self._cond:
            if not urgent:
                if self._busy or self._queue:
                    return False
                self._busy = True
                return True
            ticket = object()
            self._queue.append(ticket)
            while self._busy or self._queue[0] is not ticket:
                self._cond.wait()
            self._queue.popleft()
            self._busy = True
            return True

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()


class WhisperDecoder:
    """Decode windows with one loaded ``faster_whisper.WhisperModel``, shared through a gate."""

    def __init__(self, model, beam_size: int = 5):
        self.model = model
        self.beam_size = beam_size
        self.multilingual = bool(getattr(model, "model", None) and model.model.is_multilingual)
        self.gate = ModelGate()
        #: Partial decodes refused because the model was busy (``ModelGate``).
        self.shed = 0

    def decode(
        self,
        samples: np.ndarray,
        *,
        prompt: str | None = None,
        language: str | None = None,
        hotwords: str | None = None,
        beam_size: int | None = None,
        urgent: bool = True,
    ) -> Decoded | None:
        """Decode ``samples``; ``None`` when ``urgent`` is false and the model is taken."""
        if not self.multilingual:
            language = "en"
        if not self.gate.acquire(urgent):
            self.shed += 1
            return None
        try:
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
        finally:
            self.gate.release()
        return Decoded(_drop_unaligned(words), info.language, float(info.language_probability))
