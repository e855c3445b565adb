"""Voice activity detection and Whisper's decoding windows, shared by prepare and the transcriber.

prepare plans chunks from these speech regions and windows; the faster-whisper engine cuts
each chunk into decoding windows with the same Silero settings, so a chunked file is decoded
window for window as a one-shot decode would be. A base module: stages and engines both
use it without importing each other.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from dalston import audio
from dalston.contracts import SpeechRegion

#: Silero VAD settings shared by prepare (to plan chunks) and transcribe (to cut each chunk
#: into decoding windows). With 1 s minimum silence and 200 ms padding, batched decoding is as
#: accurate as faster-whisper's sequential decoding on our test speech, and faster.
VAD_OPTIONS = {"min_silence_duration_ms": 1000, "speech_pad_ms": 200}
#: Whisper's window: speech regions are grouped into batches of windows this long.
WINDOW_SECONDS = 30.0
#: Silero's frame; chunk cuts fall on multiples of it so every chunk sees the same VAD frames
#: as the whole file would.
VAD_FRAME = 512


def vad_options():
    return VadOptions(max_speech_duration_s=WINDOW_SECONDS, **VAD_OPTIONS)


def find_speech(samples: np.ndarray) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono audio, with Silero VAD (bundled with faster-whisper)."""
    if samples.size == 0:
        return []
    return [
        SpeechRegion(start=s["start"] / audio.SAMPLE_RATE, end=s["end"] / audio.SAMPLE_RATE)
        for s in get_speech_timestamps(samples, vad_options())
    ]


def group_speech(speech: list[SpeechRegion]) -> list[list[SpeechRegion]]:
    """Group consecutive regions into decoding windows of at most 30 s of speech.

    The same rule as faster-whisper's batched pipeline (``vad.collect_chunks``), so the
    windows a chunk is decoded in are the windows a one-shot decode of the whole file uses.
    """
    groups: list[list[SpeechRegion]] = []
    current: list[SpeechRegion] = []
    length = 0.0
    for region in speech:
        span = region["end"] - region["start"]
        if current and length + span > WINDOW_SECONDS:
            groups.append(current)
            current, length = [], 0.0
        current.append(region)
        length += span
    if current:
        groups.append(current)
    return groups
