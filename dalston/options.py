"""The typed job plan: what a request asked the pipeline to do.

Every API family (native, ElevenLabs, OpenAI) parses its request into one frozen
:class:`JobOptions`. It is stored on the job row in its serialised form (``to_dict``) and
read back with ``from_dict`` by the canvas builder, the stage functions and the progress
computation; nothing else carries request options around.

How a family wants its *answer* (a synchronous wait, OpenAI's response format, an
ElevenLabs webhook and its metadata) is not part of the plan: it is stored apart, on the
job's ``reply`` column, and read only by that family's own package.

Derived properties answer the questions the pipeline asks (``needs_align``,
``needs_diarize``, ``per_channel``, ``whole_file_engine``) so that each rule is decided here,
once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping

#: Most channels a per-channel job may have (each one is transcribed on its own). API
#: families with a stricter documented limit (ElevenLabs: 5) refuse more at their edge.
MAX_CHANNELS = 8
#: The default ``transcribe_engine``: faster-whisper over prepare's chunks.
CHUNKED_ENGINE = "faster_whisper"
#: Transcription engines that transcribe, align and diarize a whole file in one task (their
#: own stage and queue), instead of the chunked transcribe → align ∥ diarize pipeline.
WHOLE_FILE_ENGINES = ("whisperx-full",)
#: The ``align_engine`` that keeps the transcriber's own word times (no align task runs).
KEEP_WHISPER_TIMES = "whisper"

Granularity = Literal["character", "word", "segment"]
SpeakerDetection = Literal["none", "diarize", "per_channel"]
Task = Literal["transcribe", "translate"]


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """A validated transcription request, as the pipeline runs it.

    Attributes:
        model: the Whisper model (a name ``GET /v1/models`` lists, or a local path).
        language: ISO 639-1 code, or None to detect it.
        task: ``transcribe``, or ``translate`` (English text from any language).
        timestamps_granularity: ``word`` (aligned word times), ``character`` (words, and
            their characters timed from the aligner's phones) or ``segment``.
        speaker_detection: ``none``, ``diarize`` or ``per_channel``.
        transcribe_engine: ``faster_whisper`` (chunked) or a whole-file engine.
        align_engine / diarize_engine: the request's engine, or None for the worker default.
        num_speakers / min_speakers / max_speakers: constraints for the diarizer.
        diarization_threshold: ElevenLabs' clustering threshold (higher = fewer speakers).
        vocabulary: terms to favour (hotwords).
        prompt: initial prompt of every decoding window.
        temperature: decoding temperature (None: greedy/beam search at 0).
        beam_size: beam width.
        seed: sampling seed (identical output for a repeated request).
        tag_audio_events: keep Whisper's ``(laughter)``-style event tokens.
    """

    model: str
    language: str | None = None
    task: Task = "transcribe"
    timestamps_granularity: Granularity = "word"
    speaker_detection: SpeakerDetection = "none"
    transcribe_engine: str = CHUNKED_ENGINE
    align_engine: str | None = None
    diarize_engine: str | None = None
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    diarization_threshold: float | None = None
    vocabulary: tuple[str, ...] | None = None
    prompt: str | None = None
    temperature: float | None = None
    beam_size: int = 5
    seed: int | None = None
    tag_audio_events: bool = False

    def __post_init__(self):
        if self.vocabulary is not None and not isinstance(self.vocabulary, tuple):
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))

    # -- derived: the rules the pipeline follows --------------------------------------

    @property
    def whole_file_engine(self) -> bool:
        """The whole job runs in one task of a full-pipeline engine (e.g. whisperx-full)."""
        return self.transcribe_engine in WHOLE_FILE_ENGINES

    @property
    def word_timestamps(self) -> bool:
        """The transcriber must produce words (the aligner or the client needs them)."""
        return self.timestamps_granularity in ("word", "character")

    @property
    def character_timestamps(self) -> bool:
        """Characters timed from the aligner's phones, not spread evenly over their word.

        Asked for, not the default: the forced aligner's phone pass costs as much as its
        word pass.
        """
        return self.timestamps_granularity == "character"

    @property
    def needs_align(self) -> bool:
        """An align task follows each chunk's transcription.

        Not for ``align_engine=whisper``: keeping Whisper's own word times re-times nothing,
        so the chunk skips that hop and merge labels its words (``timing: "whisper"``, their
        characters) itself. Without a named engine the align worker's default decides, so
        the task runs.
        """
        return (
            self.word_timestamps
            and not self.whole_file_engine
            and self.align_engine != KEEP_WHISPER_TIMES
        )

    @property
    def needs_diarize(self) -> bool:
        """Speakers come from a diarizer (a diarize task, or the whole-file engine's own)."""
        return self.speaker_detection == "diarize"

    @property
    def per_channel(self) -> bool:
        """Each original channel is transcribed on its own and is one speaker."""
        return self.speaker_detection == "per_channel"

    @property
    def merges_aligned(self) -> bool:
        """merge reads aligned chunk artifacts (whole-file engines write theirs as those)."""
        return self.needs_align or self.whole_file_engine

    def engine_for(self, kind: str) -> str | None:
        """The engine the request chose for an engine kind; None: the worker's default."""
        return {
            "transcriber": self.transcribe_engine,
            "aligner": self.align_engine,
            "diarizer": self.diarize_engine,
            "pipeline": self.transcribe_engine,
        }[kind]

    # -- (de)serialisation: the job row's ``options`` column ---------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.vocabulary is not None:
            data["vocabulary"] = list(self.vocabulary)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobOptions":
        """The plan stored on a job row; keys this version does not know are ignored."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        # A stored None for a field whose default is not None means "the default".
        return cls(
            **{
                k: v
                for k, v in data.items()
                if k in fields and (v is not None or fields[k].default is None)
            }
        )

    def replace(self, **changes) -> "JobOptions":
        return dataclasses.replace(self, **changes)
