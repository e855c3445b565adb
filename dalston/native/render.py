"""A job as the native API shows it: the plain dicts its schemas (``schemas.py``) dump."""

from __future__ import annotations

import datetime as dt

from dalston.db.models import Job, JobStatus, StageRun
from dalston.options import JobOptions
from dalston.pipeline import progress


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back without their zone; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _error(job: Job) -> dict | None:
    return {"code": job.error_code, "message": job.error} if job.error else None


def stage_view(run: StageRun) -> dict:
    duration = None
    if run.started_at and run.completed_at:
        duration = int((run.completed_at - run.started_at).total_seconds() * 1000)
    return {
        "stage": run.stage,
        "part": run.part,
        "status": run.status,
        "started_at": utc(run.started_at),
        "completed_at": utc(run.completed_at),
        "duration_ms": duration,
        "worker": run.worker,
        "attempts": run.attempts,
        "progress": round(run.progress, 3),
        "error": run.error,
    }


def job_view(job: Job) -> dict:
    """The job as the API shows it (see JobSchema)."""
    result = job.result or {}
    runs = sorted(job.stages, key=progress.stage_order)
    return {
        "id": job.id,
        "status": job.status,
        "error": _error(job),
        "progress": progress.job_progress(
            JobOptions.from_dict(job.options), runs, job.status == JobStatus.COMPLETED.value
        ),
        "current_stage": job.current_stage,
        "stages": [stage_view(r) for r in runs],
        "created_at": utc(job.created_at),
        "started_at": utc(job.started_at),
        "completed_at": utc(job.completed_at),
        "audio_duration_seconds": job.audio_duration,
        "model": job.model,
        "language_code": job.language_code,
        "languages": result.get("languages", []),
        "text": result.get("text"),
        "segments": result.get("segments", []),
        "words": result.get("words", []),
        "speakers": result.get("speakers", []),
        "warnings": result.get("warnings", []),
        "options": job.options,
        "retention": job.retention_days,
        "purge_after": utc(job.purge_after),
        "purged_at": utc(job.purged_at),
    }


def job_summary(job: Job) -> dict:
    """One job of a list page (see JobSummarySchema)."""
    return {
        "id": job.id,
        "status": job.status,
        "created_at": utc(job.created_at),
        "started_at": utc(job.started_at),
        "completed_at": utc(job.completed_at),
        "model": job.model,
        "audio_duration_seconds": job.audio_duration,
        "error": _error(job),
    }
