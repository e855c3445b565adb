"""A job's progress (0–100) from its plan and its stage rows.

Each planned stage owns its ``StageSpec.progress_weight`` of the bar; per-chunk stages are
weighted inside by the seconds of audio each chunk covers, so a long chunk moves the bar
more than a short one.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from dalston.options import JobOptions
from dalston.pipeline.builder import planned_stages
from dalston.pipeline.stages import Stage


class _Run(Protocol):
    stage: str
    status: str
    progress: float
    audio_seconds: float | None


def job_progress(options: JobOptions, runs: Iterable[_Run], completed: bool) -> int:
    """Percent done of a job with ``options`` whose stage rows are ``runs``."""
    if completed:
        return 100
    by_stage: dict[str, list[_Run]] = {}
    for run in runs:
        by_stage.setdefault(run.stage, []).append(run)
    prepared = any(r.status == "completed" for r in by_stage.get(Stage.PREPARE.value, []))
    total = done = 0.0
    for stage in planned_stages(options):
        weight = stage.spec.progress_weight
        total += weight
        rows = by_stage.get(stage.value, [])
        if stage.spec.per_chunk:
            seconds = sum(r.audio_seconds or 0 for r in rows)
            if seconds > 0:
                done += weight * sum((r.audio_seconds or 0) * r.progress for r in rows) / seconds
            elif prepared:  # nothing to transcribe
                done += weight
        elif rows:
            done += weight * rows[0].progress
    return int(100 * done / total)


def stage_order(run: _Run) -> tuple[int, int]:
    """Sort key for stage rows: canvas order, then part."""
    return (list(Stage).index(Stage(run.stage)), getattr(run, "part", 0))
