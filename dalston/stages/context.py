"""What a stage's ``run`` is given: the job it works on, with its plan and the settings.

Every stage module has one entry point, ``run(job, store, engine, report)``, that its
Celery task calls; it reads its inputs from storage by ``job.id``, writes its outputs under
deterministic keys and returns a small summary (what the task shows in Flower). Below
``run`` each stage keeps pure functions over explicit arguments, which the unit tests call.
"""

from __future__ import annotations

import dataclasses
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
    """

    id: str
    part: int
    options: JobOptions
    settings: Settings
    source_url: str | None = None
    audio_duration: float | None = None
