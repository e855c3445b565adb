"""The stage table: one :class:`StageSpec` per pipeline stage, the single source of truth.

Everything that lists stages derives from ``STAGES``: ``celeryconfig``'s queues and routes,
the :class:`Stage` names, the progress weights, the worker entry points'
pool defaults (``workers/<queue>.py``) and the deployment consistency test (a compose service
and a Kubernetes Deployment per queue, a GPU for GPU stages). Adding a stage is: a stage
module in ``dalston/stages/``, its task in ``dalston/tasks.py``, its ``StageSpec`` here, its
``workers/<queue>.py`` entry point and its compose/Kubernetes services; the consistency test
names whichever is missing.

This module imports nothing from Celery or the engines, so ``celeryconfig`` can read it.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal

EngineKind = Literal["transcriber", "aligner", "diarizer", "pipeline"]


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """How one stage runs.

    Attributes:
        name: the stage's name, its queue's name and the ``stage`` of its ``stage_runs`` rows.
        pool / concurrency / worker_args: the default ``celery worker`` options of its entry
            point (GPU stages: one solo process per GPU, since CUDA does not survive a fork).
        per_chunk: one task per prepared chunk (``(job_id, part)``) rather than per job.
        progress_weight: its share of a job's progress bar.
        engine: the kind of engine it runs, or None.
        gpu: its engines want a GPU in a deployment (compose reserves one, k8s requests one).
        soft_time_limit / time_limit: seconds one task may run before it is stopped (the
            job then fails with ``stage_time_limit``) and killed; ``DALSTON_STAGE_TIME_LIMITS``
            overrides them. The reconciler treats a row running longer than ``time_limit``
            as lost. Generous: they bound a stuck task, not a slow machine.
    """

    name: str
    pool: str
    concurrency: int
    progress_weight: float
    per_chunk: bool = False
    engine: EngineKind | None = None
    gpu: bool = False
    worker_args: tuple[str, ...] = ()
    soft_time_limit: float = 6 * 3600.0
    time_limit: float = 6 * 3600.0 + 300

    @property
    def task_name(self) -> str:
        return f"dalston.{self.name}"

    @property
    def queue(self) -> str:
        return self.name


#: The stages, in canvas order.
STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "prepare",
        "prefork",
        2,
        5.0,
        worker_args=("--max-tasks-per-child", "50"),
        soft_time_limit=3600.0,
        time_limit=3900.0,
    ),
    StageSpec("transcribe", "solo", 1, 80.0, per_chunk=True, engine="transcriber", gpu=True),
    StageSpec("align", "solo", 1, 5.0, per_chunk=True, engine="aligner", gpu=True),
    StageSpec("diarize", "solo", 1, 5.0, engine="diarizer", gpu=True),
    #: transcribe + align + diarize of the whole file in one task (whisperx-full).
    StageSpec("whisperx_full", "solo", 1, 90.0, engine="pipeline", gpu=True),
    StageSpec("merge", "prefork", 2, 5.0, soft_time_limit=600.0, time_limit=900.0),
)

BY_NAME: dict[str, StageSpec] = {spec.name: spec for spec in STAGES}

#: The queues every stage worker consumes, in canvas order.
QUEUES: tuple[str, ...] = tuple(spec.queue for spec in STAGES)

#: Queues that are not pipeline stages, with their worker's pool and concurrency: webhook
#: delivery (``dalston.webhooks``, ``workers/webhooks.py``) waits on receivers, so threads.
SERVICE_QUEUES: dict[str, tuple[str, int]] = {"webhooks": ("threads", 8)}
WEBHOOKS_QUEUE = "webhooks"
#: Every Celery queue: what embedded mode's worker consumes and ``/metrics`` measures.
ALL_QUEUES: tuple[str, ...] = QUEUES + tuple(SERVICE_QUEUES)


class _StageName(str, enum.Enum):
    """Behaviour of :data:`Stage` members; the members themselves come from ``STAGES``."""

    @property
    def spec(self) -> StageSpec:
        return BY_NAME[self.value]

    @property
    def task_name(self) -> str:
        return self.spec.task_name

    @property
    def queue(self) -> str:
        return self.spec.queue


def stage_enum(stages: tuple[StageSpec, ...]) -> type[_StageName]:
    """The ``Stage`` enum of a stage table (a test builds one with an extra stage)."""
    return _StageName("Stage", {spec.name.upper(): spec.name for spec in stages})


#: Stage names as an enum (``Stage.TRANSCRIBE == "transcribe"``), derived from ``STAGES``.
Stage = stage_enum(STAGES)


def spec_for_task(task_name: str) -> StageSpec:
    """The stage a task name (``dalston.<stage>``) runs."""
    return BY_NAME[task_name.removeprefix("dalston.")]


def time_limits(
    spec: StageSpec, overrides: tuple[tuple[str, float, float], ...] = ()
) -> tuple[float, float]:
    """``(soft, hard)`` seconds for a stage: its spec, unless ``DALSTON_STAGE_TIME_LIMITS``
    (``Settings.stage_time_limits``) names it."""
    for stage, soft, hard in overrides:
        if stage == spec.name:
            return soft, hard
    return spec.soft_time_limit, spec.time_limit
