"""Client audio at the API: any supported encoding and rate in, PCM16 at 16 kHz out.

Decoding and resampling happen at the edge, so a malformed frame is refused in the
client's protocol before anything reaches a worker, and the relay carries half the bytes
of float32. Resampling is soxr's streaming resampler (high quality), which keeps its
filter state across frames: a stream cut into frames resamples as one signal, without a
click at each frame boundary.
"""

from __future__ import annotations

import numpy as np

TARGET_RATE = 16000
MIN_RATE, MAX_RATE = 8000, 48000
#: Encoding → bytes per sample.
ENCODINGS = {"pcm_s16le": 2, "pcm_f32le": 4, "mulaw": 1, "alaw": 1}


class AudioFormatError(ValueError):
    """A format, rate or frame that cannot be decoded (message for the client)."""


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


MULAW = _mulaw_table()
ALAW = _alaw_table()


class AudioDecoder:
    """One session's decoder: frames of ``encoding`` at ``rate`` → PCM16LE at 16 kHz.

    Raises:
        AudioFormatError: unknown encoding, a rate outside 8–48 kHz (at construction), or a
            frame whose length is not a whole number of samples (per frame).
    """

    def __init__(self, encoding: str, rate: int):
        if encoding not in ENCODINGS:
            raise AudioFormatError(
                f"unsupported encoding {encoding!r}; choose one of {sorted(ENCODINGS)}"
            )
        if not MIN_RATE <= rate <= MAX_RATE:
            raise AudioFormatError(f"sample rate {rate} is outside {MIN_RATE}–{MAX_RATE} Hz")
        self.encoding, self.rate = encoding, rate
        self.width = ENCODINGS[encoding]
        self._resampler = None
        if rate != TARGET_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(rate, TARGET_RATE, 1, dtype="float32")

    def samples(self, data: bytes) -> np.ndarray:
        """float32 samples at the client's rate."""
        if len(data) % self.width:
            raise AudioFormatError(
                f"{len(data)} bytes is not a whole number of {self.encoding} samples "
                f"({self.width} bytes each)"
            )
        if self.encoding == "pcm_s16le":
            return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if self.encoding == "pcm_f32le":
            samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
            if not np.all(np.isfinite(samples)):
                raise AudioFormatError("pcm_f32le frame holds NaN or infinite samples")
            return np.clip(samples, -1.0, 1.0)
        table = MULAW if self.encoding == "mulaw" else ALAW
        return table[np.frombuffer(data, dtype=np.uint8)].astype(np.float32) / 32768.0

    def __call__(self, data: bytes, last: bool = False) -> bytes:
        """PCM16LE 16 kHz mono bytes for one frame (``last`` flushes the resampler)."""
        samples = self.samples(data)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return (np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes()
