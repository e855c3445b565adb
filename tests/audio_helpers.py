"""Audio made for tests: re-encodings of the shared fixtures, silence, broken files.

Synthetic speech (the espeak dialogue, timed words; ``tests.bench.synth``) and its scoring
(WER, word timing; ``tests.bench.evaluation.metrics``) are shared with ``make eval`` and
``make bench``; they are re-exported here under the names the tests use.
"""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from dalston import audio
from tests.bench.evaluation.metrics import normalise, timing_errors, wer  # noqa: F401
from tests.bench.evaluation.references import JFK_TEXT, STEREO_LEFT, STEREO_RIGHT  # noqa: F401
from tests.bench.synth import (  # noqa: F401 (re-exported for the tests)
    DIALOGUE,
    DIALOGUE_VOICES,
    TIMED_TEXT,
    dialogue,
    timed_words,
)

#: (container format, codec, file suffix)
FORMATS = {
    "mp3": ("mp3", "libmp3lame", ".mp3"),
    "ogg_opus": ("ogg", "libopus", ".ogg"),
    "m4a_aac": ("ipod", "aac", ".m4a"),
    "webm_opus": ("webm", "libopus", ".webm"),
    "mp4_aac": ("mp4", "aac", ".mp4"),
    "flac": ("flac", "flac", ".flac"),
    "wav": ("wav", "pcm_s16le", ".wav"),
}


def encode(samples: np.ndarray, path: Path, fmt: str, rate: int = 48000) -> Path:
    """Encode mono float32 16 kHz samples into ``fmt`` (a key of FORMATS) with PyAV."""
    container_fmt, codec, _suffix = FORMATS[fmt]
    if codec == "libopus":
        rate = 48000
    elif codec in ("libmp3lame", "aac", "libvorbis"):
        rate = 44100
    with av.open(str(path), "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(
            format=stream.codec_context.format or "s16", layout="mono", rate=rate
        )
        frame_size = 960
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), frame_size):
            frame = av.AudioFrame.from_ndarray(
                pcm[None, start : start + frame_size], format="s16", layout="mono"
            )
            frame.sample_rate = audio.SAMPLE_RATE
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    out.mux(packet)
        for resampled in resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_wav(samples: np.ndarray, path: Path, rate: int = audio.SAMPLE_RATE) -> Path:
    path.write_bytes(audio.to_wav_bytes(samples, rate))
    return path


def write_multichannel_wav(channels: list[np.ndarray], path: Path) -> Path:
    n = max(len(c) for c in channels)
    data = np.zeros((n, len(channels)), dtype=np.int16)
    for i, c in enumerate(channels):
        data[: len(c), i] = (np.clip(c, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(audio.SAMPLE_RATE)
        out.writeframes(data.tobytes())
    return path


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * audio.SAMPLE_RATE), dtype=np.float32)


def load(path: Path) -> np.ndarray:
    return audio.decode(path).mono
