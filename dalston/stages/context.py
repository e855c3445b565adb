"""What a stage's ``run`` is given: the job it works on, with its plan and the settings.

Every stage module has one entry point, ``run(job, store, engine, report)``, that its
Celery task calls; it reads audio from storage by ``job.id``, writes what later stages read
as audio or files under deterministic keys, and returns a small summary (what the task shows
in Flower) — or a :class:`StageResult`, whose ``output`` (a chunk's transcript) the task
writes on the stage's row as it marks it done. A stage that reads another's outputs finds
them in ``job.inputs``, loaded with the job. Below ``run`` each stage keeps pure functions
over explicit arguments, which the unit tests call.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable

from dalston.config import Settings
from dalston.options import JobOptions

#: Called with the fraction of the stage's work done; raises ``JobCancelled`` once the job
#: is no longer active, which stops the stage.
Report = Callable[[float], None]


def no_report(_fraction: float) -> None:
    """A reporter for callers that do not track progress."""


@dataclasses.dataclass(frozen=True)
class StageJob:
    """The job a stage task runs for.

    Attributes:
        id: the job id (every storage key derives from it).
        part: the chunk index for per-chunk stages, else 0.
        options: the job's plan.
        settings: the worker's settings (model directory, device, chunk length, …).
        source_url: where prepare fetches the audio when none was uploaded.
        audio_duration: the audio's seconds once prepare has measured them.
        inputs: the outputs this stage reads, by part (align: its chunk's transcript;
            merge: every chunk's), from their stage rows.
    """

    id: str
    part: int
    options: JobOptions
    settings: Settings
    source_url: str | None = None
    audio_duration: float | None = None
    inputs: dict[int, dict | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class StageResult:
    """A stage's answer when it has an output for its row: ``summary`` is the task's result."""

    summary: dict
    output: dict


def stage_input(job: StageJob, part: int, store, legacy_key: str) -> dict:
    """Part ``part`` of the outputs this stage reads (``job.inputs``).

    A row finished before outputs moved onto the stage rows (a job in flight across that
    upgrade) has none; its output is the object it wrote at ``legacy_key``.

    Raises:
        FileNotFoundError: neither exists.
    """
    output = job.inputs.get(part)
    if output is not None:
        return output
    return json.loads(store.get_bytes(legacy_key))
