"""Silero VAD one frame at a time, for a stream.

The batch pipeline runs Silero (the ONNX model bundled with faster-whisper,
``dalston.vad``) over a whole file at once. A stream arrives in pieces, so this keeps the
model's recurrent state (``h``, ``c``) and the last 64 samples of context between calls:
fed the same audio in any number of pieces, it gives the same probability per 512-sample
frame as one call over the whole audio.
"""

from __future__ import annotations

import functools

import numpy as np

#: Silero's frame at 16 kHz (32 ms) and the context it is given before each frame.
FRAME = 512
CONTEXT = 64


@functools.lru_cache(maxsize=1)
def _model():
    # faster-whisper's ONNX Silero; loading takes onnxruntime, so only on first use
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


class StreamingVad:
    """Speech probability per 32 ms frame of a stream of 16 kHz float32 samples."""

    def __init__(self, model=None):
        self._session = (model or _model()).session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype="float32")
        self._c = np.zeros((1, 1, 128), dtype="float32")
        self._context = np.zeros(CONTEXT, dtype="float32")
        self._pending = np.zeros(0, dtype="float32")

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The probabilities of the complete frames that ``samples`` finish (maybe none)."""
        audio = np.concatenate([self._pending, samples.astype("float32", copy=False)])
        n = len(audio) // FRAME
        self._pending = audio[n * FRAME :]
        if n == 0:
            return np.zeros(0, dtype="float32")
        frames = audio[: n * FRAME].reshape(n, FRAME)
        contexts = np.empty((n, CONTEXT), dtype="float32")
        contexts[0] = self._context
        if n > 1:
            contexts[1:] = frames[:-1, -CONTEXT:]
        self._context = frames[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return np.asarray(out, dtype="float32").reshape(-1)
