"""Declared, JSON-serialisable shapes of the data that crosses a stage boundary.

Every artifact a stage writes to storage, and the transcript stored on the job row, has
one of these shapes. Engines return plain data in these shapes (never generator objects or
library classes), so any stage can be re-run from storage alone.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NotRequired, TypedDict

from dalston.errors import StageError


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
    # prepare's speech regions inside the chunk (job timeline): the transcriber decodes
    # them instead of running the VAD again. Absent in manifests written before.
    speech: NotRequired[list[SpeechRegion]]


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


class Character(TypedDict):
    """One character of a word, timed inside the word ([word.start, word.end], in order)."""

    text: str
    start: float
    end: float


class Word(TypedDict, total=False):
    """A word. ``confidence`` and ``logprob`` carry one number, Whisper's word probability,
    on the two scales the APIs want: ``confidence`` in [0, 1] (OpenAI's word probability)
    and ``logprob`` its natural log (ElevenLabs' ``logprob``, ≤ 0), taken before rounding
    as ``ln(max(p, 1e-10))`` so it is never -inf. An audio event joined from several words
    has their product / sum."""

    text: str
    start: float
    end: float
    confidence: float | None  # Whisper's word probability, 0–1
    logprob: float | None  # ln(confidence), ≤ 0
    type: str  # "word", or "audio_event" for "[Music]", "(laughs)"… (tag_audio_events)
    timing: str  # how the times were obtained: "whisper", "forced_alignment", ...
    characters: list[Character]  # always present; from phones when forced-aligned
    speaker: str | None
    channel: int | None  # per-channel jobs


def word_logprob(word: Mapping[str, Any]) -> float:
    """A word's ``logprob`` as every API renders it: the one the engine stored on the word.

    The one fallback, for a word stored without it (a transcript made before engines stored
    ``logprob``, or by an engine that does not): ``ln`` of its ``confidence`` clamped to
    [1e-10, 1], as the engine computes it, to 6 places; ``0.0`` (certain) when the
    confidence is unknown too.
    """
    logprob = word.get("logprob")
    if logprob is not None:
        return float(logprob)
    confidence = word.get("confidence")
    if confidence is None:
        return 0.0
    return round(math.log(min(max(float(confidence), 1e-10), 1.0)), 6)


class Segment(TypedDict, total=False):
    """A segment. The decoder fields mirror faster-whisper's Segment (and OpenAI's
    verbose_json): ``seek`` is the start of the 30-second window that produced it, in mel
    frames (100 per second) on the job timeline; ``tokens`` its token ids (timestamp tokens
    included); ``temperature`` the one it was decoded at; ``avg_logprob``,
    ``compression_ratio`` and ``no_speech_prob`` as Whisper computes them. Segments split by
    speaker keep their original segment's decoder fields."""

    id: int
    start: float
    end: float
    text: str
    type: str  # "speech", or "audio_event" when its text is only events
    speaker: str | None
    channel: int | None
    language: str | None  # ISO 639-1 of this segment: a code-switched file has several
    seek: int
    tokens: list[int]
    temperature: float
    avg_logprob: float | None
    compression_ratio: float
    no_speech_prob: float | None
    words: list[Word]


class ChunkTranscript(TypedDict):
    """One chunk's transcript on the job's timeline (its transcribe row's ``output``)."""

    index: int
    channel: int | None
    language: str | None  # the spoken language, also when translated
    language_probability: float | None
    segments: list[Segment]
    task: NotRequired[str]  # "transcribe" or "translate" (English text); absent: transcribe


class Transcript(TypedDict):
    """The final transcript: stored on the job row and as ``jobs/<id>/merge/transcript.json``."""

    text: str
    language: str | None  # the language spoken longest
    language_probability: float | None
    #: ``[{language, share}]``: every language found, with its share of the speech, most first.
    languages: NotRequired[list[dict]]
    duration: float
    segments: list[Segment]
    words: list[Word]
    speakers: list[dict]
    warnings: list[str]


def check_segments(segments, engine: str) -> None:
    """Refuse malformed engine output at the stage that ran the engine, not as a crash in merge.

    Raises:
        StageError: ``engine_error`` naming the first malformed segment.
    """
    for seg in segments:
        ok = (
            isinstance(seg, dict)
            and isinstance(seg.get("text"), str)
            and isinstance(seg.get("start"), (int, float))
            and isinstance(seg.get("end"), (int, float))
            and seg["end"] >= seg["start"]
        )
        if not ok:
            raise StageError(
                "engine_error",
                f"the {engine} engine returned a malformed segment: {seg!r:.200}",
            )
