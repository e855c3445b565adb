"""Declared, JSON-serialisable shapes of the data that crosses a stage boundary.

Every artifact a stage writes to storage, and the transcript stored on the job row, has
one of these shapes. Engines return plain data in these shapes (never generator objects or
library classes), so any stage can be re-run from storage alone.
"""

from __future__ import annotations

from typing import TypedDict


class SpeechRegion(TypedDict):
    start: float
    end: float


class Chunk(TypedDict):
    """One slice of the prepared audio, transcribed by one ``transcribe`` task."""

    index: int
    start: float  # seconds on the job's timeline
    end: float
    channel: int | None  # None: the mono downmix; N: original channel N (per-channel jobs)
    key: str  # storage key of the chunk's 16 kHz mono PCM16 WAV


class PreparedAudio(TypedDict):
    """``jobs/<id>/prepare/manifest.json``: what prepare learnt about the input."""

    duration: float
    sample_rate: int  # of the original audio
    channels: int  # of the original audio
    codec: str
    container: str
    audio_key: str  # 16 kHz mono PCM16 WAV of the whole file
    channel_keys: list[str]  # 16 kHz PCM16 WAV per original channel (only if channels > 1)
    speech: list[SpeechRegion]
    chunks: list[Chunk]
    warnings: list[str]


class Word(TypedDict, total=False):
    text: str
    start: float
    end: float
    confidence: float | None  # the model's word probability
    speaker: str | None
    timing: str  # how the times were obtained: "whisper", "forced_alignment", ...


class Segment(TypedDict, total=False):
    id: int
    start: float
    end: float
    text: str
    speaker: str | None
    avg_logprob: float | None
    no_speech_prob: float | None
    words: list[Word]


class ChunkTranscript(TypedDict):
    """``jobs/<id>/transcribe/chunk_<n>.json``: one chunk's transcript on the job's timeline."""

    index: int
    channel: int | None
    language: str | None
    language_probability: float | None
    segments: list[Segment]


class Transcript(TypedDict):
    """The final transcript: stored on the job row and as ``jobs/<id>/merge/transcript.json``."""

    text: str
    language: str | None
    language_probability: float | None
    duration: float
    segments: list[Segment]
    words: list[Word]
    speakers: list[dict]
    warnings: list[str]
