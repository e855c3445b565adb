"""A long test recording built from the shared speech fixtures, for the benchmark and tests.

``build(fixtures_dir, seconds)`` joins the real recordings (JFK, the AMI meeting excerpts,
the hotword clip, both channels of the stereo clip) with pauses of varying length, cycling
through them in a rotating order until the audio is ``seconds`` long. Deterministic: the
same inputs always give the same samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dalston import audio

PIECES = ("jfk.flac", "trn03.wav", "hotwords.mp3", "trn06.wav", "stereo_diarization.wav")
PAUSES = (1.2, 2.0, 1.5, 2.5, 1.8)


def build(fixtures_dir: Path, seconds: float = 600.0) -> np.ndarray:
    """16 kHz mono float32 audio of exactly ``seconds`` seconds."""
    clips = []
    for name in PIECES:
        decoded = audio.decode(Path(fixtures_dir) / name)
        if decoded.channels.shape[0] > 1:  # each speaker of the stereo clip on its own
            clips.extend(decoded.channels[c] for c in range(decoded.channels.shape[0]))
        else:
            clips.append(decoded.mono)
    total = int(seconds * audio.SAMPLE_RATE)
    parts, length, turn = [], 0, 0
    while length < total:
        order = clips[turn % len(clips):] + clips[: turn % len(clips)]
        for i, clip in enumerate(order):
            pause = np.zeros(int(PAUSES[(turn + i) % len(PAUSES)] * audio.SAMPLE_RATE), dtype=np.float32)
            parts += [clip, pause]
            length += len(clip) + len(pause)
        turn += 1
    return np.concatenate(parts)[:total].astype(np.float32)


def write(fixtures_dir: Path, path: Path, seconds: float = 600.0) -> Path:
    path.write_bytes(audio.to_wav_bytes(build(fixtures_dir, seconds)))
    return path
