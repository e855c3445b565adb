"""What an engine is: the Protocols each stage calls, and what an engine declares it can do.

An engine is a class with a ``name``, a ``capabilities`` declaration and the one method of
its kind. Engines are built by the registry (``dalston.engines.get_engine``) from the
process settings, once per process, inside the process that uses them (CUDA does not
survive a fork). They return plain JSON-serialisable data (``dalston.contracts``) and raise
``dalston.errors.ModelNotAvailable`` with the setting to fix when their weights are missing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Literal, Protocol, runtime_checkable

import numpy as np

from dalston.contracts import Segment

EngineKind = Literal["transcriber", "aligner", "diarizer", "pipeline"]
KINDS: tuple[EngineKind, ...] = ("transcriber", "aligner", "diarizer", "pipeline")

Progress = Callable[[float], None]


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so stages decide by declaration instead of by convention.

    Attributes:
        languages: ISO 639-1 codes it handles, or None for any language.
        word_timing: it produces (or, for an aligner, refines) word times of its own; an
            aligner without it keeps the transcriber's times.
        needs_gpu: it is only practical on a GPU host.
    """

    languages: frozenset[str] | None = None
    word_timing: bool = True
    needs_gpu: bool = False

    def covers(self, language: str | None) -> bool:
        return self.languages is None or (language or "en") in self.languages


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Which Whisper model to run, and where and how (from the job and the worker's settings)."""

    model: str
    model_dir: Path
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    batch_size: int = 8


@dataclasses.dataclass(frozen=True)
class TranscribeOptions:
    """One transcription request to a transcriber (built by the transcribe stage)."""

    model: ModelSpec
    language: str | None = None
    task: str = "transcribe"
    prompt: str | None = None
    vocabulary: tuple[str, ...] | None = None
    temperature: float | None = None
    beam_size: int = 5
    word_timestamps: bool = True
    seed: int | None = None
    tag_audio_events: bool = False
    #: Speech regions already found by prepare, ``(start, end)`` seconds from the chunk's
    #: start: a transcriber that runs a VAD may use them instead of running it again.
    speech: tuple[tuple[float, float], ...] | None = None


@dataclasses.dataclass(frozen=True)
class SpeakerOptions:
    """Constraints for a diarizer; None leaves each to the engine."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    #: ElevenLabs' ``diarization_threshold`` (higher = fewer speakers).
    threshold: float | None = None


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """One whole-file request to a full-pipeline engine (transcribe + align + diarize)."""

    model: ModelSpec
    language: str | None = None
    diarize: bool = False
    speakers: SpeakerOptions = SpeakerOptions()


@runtime_checkable
class Transcriber(Protocol):
    name: str
    capabilities: Capabilities

    def transcribe(
        self,
        samples: np.ndarray,
        options: TranscribeOptions,
        *,
        offset: float = 0.0,
        on_progress: Progress | None = None,
    ) -> tuple[list[Segment], str | None, float | None]:
        """(segments on the job timeline, detected language, its probability)."""


@runtime_checkable
class Aligner(Protocol):
    name: str
    capabilities: Capabilities

    def align(
        self,
        samples: np.ndarray,
        offset: float,
        segments: list[dict],
        *,
        language: str,
        characters: bool = False,
    ) -> list[dict]:
        """The segments with re-timed words (each word says how it was timed).

        ``characters``: time each word's characters too, where the aligner can (the
        request asked for character timestamps); else they may share the word evenly.
        """


@runtime_checkable
class Diarizer(Protocol):
    name: str
    capabilities: Capabilities

    def diarize(
        self, samples: np.ndarray, regions: list[dict], options: SpeakerOptions
    ) -> list[dict]:
        """Speaker turns ``[{start, end, speaker}]`` (``SPEAKER_00``…), in time order."""


@runtime_checkable
class FullPipeline(Protocol):
    name: str
    capabilities: Capabilities

    def run(
        self,
        samples: np.ndarray,
        options: PipelineOptions,
        *,
        on_progress: Progress | None = None,
    ) -> dict:
        """``{segments, language, language_probability, turns}`` for the whole file."""


PROTOCOLS: dict[EngineKind, type] = {
    "transcriber": Transcriber,
    "aligner": Aligner,
    "diarizer": Diarizer,
    "pipeline": FullPipeline,
}
