"""Small named state transitions on jobs and stage rows, each taking a Session.

Status changes are conditional updates (``WHERE status IN (pending, running)``), so a job
that was cancelled or failed is never brought back to life by a late task, and two workers
racing on one job cannot both win.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dalston.db.models import Job, JobStatus, StageRun, StageStatus, utcnow

ACTIVE = (JobStatus.PENDING.value, JobStatus.RUNNING.value)


def get_job(session: Session, job_id: str) -> Job | None:
    """The job, whoever owns it: for workers and for the API's own just-made jobs. A
    caller's request reads through :func:`find_job`, which sees its tenant's jobs only."""
    return session.get(Job, job_id)


def visible_jobs(tenant: str | None) -> sa.Select:
    """``SELECT`` of the jobs a caller of ``tenant`` may see (``None``: every tenant's).

    ``tenant`` is ``dalston.auth.current_tenant()``; a job of another tenant is then not
    there at all, so its id answers 404 exactly as an unknown one.
    """
    query = sa.select(Job)
    return query if tenant is None else query.where(Job.tenant_id == tenant)


def find_job(session: Session, job_id: str, tenant: str | None) -> Job | None:
    """The job if it exists and ``tenant`` may see it (see :func:`visible_jobs`)."""
    return session.scalar(visible_jobs(tenant).where(Job.id == job_id))


def job_status(session: Session, job_id: str) -> str | None:
    return session.scalar(sa.select(Job.status).where(Job.id == job_id))


def get_stage(session: Session, job_id: str, stage: str, part: int = 0) -> StageRun | None:
    return session.scalar(
        sa.select(StageRun).where(
            StageRun.job_id == job_id, StageRun.stage == stage, StageRun.part == part
        )
    )


def _pending_row(session: Session, job_id: str, stage: str, part: int) -> StageRun:
    """A new pending stage row, added to the session."""
    run = StageRun(
        job_id=job_id,
        stage=stage,
        part=part,
        status=StageStatus.PENDING.value,
        attempts=0,
        progress=0.0,
    )
    session.add(run)
    return run


def ensure_stage(
    session: Session,
    job_id: str,
    stage: str,
    part: int = 0,
    *,
    task_id: str | None = None,
    audio_seconds: float | None = None,
) -> StageRun:
    """The stage row, created pending if missing (idempotent: the unique key holds)."""
    run = get_stage(session, job_id, stage, part)
    if run is None:
        run = _pending_row(session, job_id, stage, part)
    if task_id is not None:
        run.task_id = task_id
    if audio_seconds is not None:
        run.audio_seconds = audio_seconds
    session.flush()
    return run


class PlannedStage(NamedTuple):
    """A planned task's row: what :func:`ensure_stages` records."""

    stage: str
    part: int
    task_id: str | None = None
    audio_seconds: float | None = None


def ensure_stages(session: Session, job_id: str, planned: list[PlannedStage]) -> None:
    """:func:`ensure_stage` for many rows of one job: one read, one flush.

    A many-chunk plan recorded row by row cost a query per row (a 64-chunk job: 129).
    """
    existing = {
        (run.stage, run.part): run
        for run in session.scalars(sa.select(StageRun).where(StageRun.job_id == job_id))
    }
    for row in planned:
        run = existing.get((row.stage, row.part))
        if run is None:
            run = existing[(row.stage, row.part)] = _pending_row(
                session, job_id, row.stage, row.part
            )
        if row.task_id is not None:
            run.task_id = row.task_id
        if row.audio_seconds is not None:
            run.audio_seconds = row.audio_seconds
    session.flush()


def begin_stage(
    session: Session, job_id: str, stage: str, part: int, *, task_id: str | None, worker: str | None
) -> tuple[Job, StageRun] | None:
    """Mark a stage running and its job running: the job (locked) and the stage row.

    ``None`` if the job is gone or finished. The job is returned rather than looked up
    again: a second ``session.get`` of a row loaded ``FOR UPDATE`` reads it once more.
    """
    job = session.get(Job, job_id, with_for_update=session.bind.dialect.name != "sqlite")
    if job is None or job.status not in ACTIVE:
        return None
    now = utcnow()
    if job.status == JobStatus.PENDING.value:
        job.status = JobStatus.RUNNING.value
        job.started_at = now
    # The planned row, marked running in one statement (a chunk's bookkeeping is per-chunk
    # cost: figure 3 of ``make bench``); a completed row is left as it is.
    mark_running = (
        sa.update(StageRun)
        .where(
            StageRun.job_id == job_id,
            StageRun.stage == stage,
            StageRun.part == part,
            StageRun.status != StageStatus.COMPLETED.value,
        )
        .values(
            status=StageStatus.RUNNING.value,
            started_at=now,
            completed_at=None,
            worker=worker,
            progress=0.0,
            error=None,
            task_id=sa.func.coalesce(task_id, StageRun.task_id),
            attempts=sa.func.coalesce(StageRun.attempts, 0) + 1,
        )
        .returning(StageRun)
    )
    options = {"synchronize_session": False}
    run = session.scalar(mark_running, execution_options=options)
    if run is None:
        if ensure_stage(session, job_id, stage, part).status == StageStatus.COMPLETED.value:
            # A second delivery of a finished stage (its message outlived the visibility
            # timeout): the outputs exist, nothing to redo.
            return None
        # A row the plan did not record, created pending just now.
        run = session.scalar(mark_running, execution_options={**options, "populate_existing": True})
    job.current_stage = stage
    session.flush()
    return job, run


def set_progress(session: Session, job_id: str, stage: str, part: int, fraction: float) -> None:
    session.execute(
        sa.update(StageRun)
        .where(StageRun.job_id == job_id, StageRun.stage == stage, StageRun.part == part)
        .values(progress=float(max(0.0, min(1.0, fraction))))
    )


class FinishedStage(NamedTuple):
    """What the metrics want of a stage row that was just marked done."""

    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    audio_seconds: float | None


def finish_stage(
    session: Session, job_id: str, stage: str, part: int = 0, output: dict | None = None
) -> FinishedStage | None:
    """Mark a stage done, with its ``output`` if it has one; its times, or None when the
    row is gone (the job was deleted)."""
    values = dict(
        status=StageStatus.COMPLETED.value, completed_at=utcnow(), progress=1.0, error=None
    )
    if output is not None:
        values["output"] = output
    row = session.execute(
        sa.update(StageRun)
        .where(StageRun.job_id == job_id, StageRun.stage == stage, StageRun.part == part)
        .values(**values)
        .returning(StageRun.started_at, StageRun.completed_at, StageRun.audio_seconds)
        .execution_options(synchronize_session=False)
    ).first()
    return FinishedStage(*row) if row is not None else None


def lock_job(session: Session, job_id: str) -> str | None:
    """Lock the job's row until the transaction ends; its status (None: it is gone).

    Every transaction that changes a job's stage rows and then the job (``begin_stage``) or
    decides from them what comes next (:func:`claim_merge`) takes this lock first, so they
    see each other's rows in one order and never deadlock on them.
    """
    query = sa.select(Job.status).where(Job.id == job_id)
    if session.bind.dialect.name != "sqlite":
        query = query.with_for_update()
    return session.scalar(query)


def claim_merge(session: Session, job_id: str, task_id: str) -> bool:
    """The join: if every stage row of the job but merge is done, give merge ``task_id``.

    True once per job: for the caller that finds the rest done while merge's row has no
    task id yet; that caller sends merge with ``task_id`` after committing. Called with the
    job row locked (:func:`lock_job`), after the caller marked its own row done, so two
    stages finishing at once are serialised and the second sees the first's row.
    """
    unfinished = session.scalar(
        sa.select(sa.func.count())
        .select_from(StageRun)
        .where(
            StageRun.job_id == job_id,
            StageRun.stage != "merge",
            StageRun.status != StageStatus.COMPLETED.value,
        )
    )
    if unfinished:
        return False
    claimed = session.execute(
        sa.update(StageRun)
        .where(
            StageRun.job_id == job_id,
            StageRun.stage == "merge",
            StageRun.status == StageStatus.PENDING.value,
            StageRun.task_id.is_(None),
        )
        .values(task_id=task_id)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount > 0


def stage_outputs(
    session: Session, job_id: str, stage: str, part: int | None = None
) -> dict[int, dict | None]:
    """The outputs of a job's rows of ``stage`` (one ``part``, or all), by part."""
    query = sa.select(StageRun.part, StageRun.output).where(
        StageRun.job_id == job_id, StageRun.stage == stage
    )
    if part is not None:
        query = query.where(StageRun.part == part)
    return {p: output for p, output in session.execute(query)}


def fail_job(
    session: Session,
    job_id: str,
    code: str,
    message: str,
    *,
    stage: str | None = None,
    part: int = 0,
) -> bool:
    """Fail the job (and the stage, if named). Returns False if the job had already ended."""
    if stage is not None:
        session.execute(
            sa.update(StageRun)
            .where(StageRun.job_id == job_id, StageRun.stage == stage, StageRun.part == part)
            .values(status=StageStatus.FAILED.value, completed_at=utcnow(), error=message[:4000])
        )
    result = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE))
        .values(
            status=JobStatus.FAILED.value,
            error_code=code,
            error=message[:4000],
            completed_at=utcnow(),
            current_stage=None,
        )
    )
    return result.rowcount > 0


def complete_job(session: Session, job_id: str, transcript: dict) -> bool:
    result = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE))
        .values(
            status=JobStatus.COMPLETED.value,
            completed_at=utcnow(),
            result=transcript,
            language_code=transcript.get("language"),
            audio_duration=transcript.get("duration"),
            current_stage=None,
        )
    )
    return result.rowcount > 0


def cancel_job(session: Session, job_id: str) -> list[str]:
    """Cancel an active job; returns the task ids of its unfinished stages (to revoke)."""
    result = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE))
        .values(status=JobStatus.CANCELLED.value, completed_at=utcnow(), current_stage=None)
    )
    if result.rowcount == 0:
        return []
    runs = session.scalars(
        sa.select(StageRun).where(
            StageRun.job_id == job_id,
            StageRun.status.in_((StageStatus.PENDING.value, StageStatus.RUNNING.value)),
        )
    ).all()
    task_ids = [r.task_id for r in runs if r.task_id]
    for run in runs:
        run.status = StageStatus.CANCELLED.value
        run.completed_at = utcnow()
    return task_ids


def reset_stages(session: Session, job_id: str) -> None:
    """Forget a job's stage rows, so the job can run again from the start."""
    session.execute(sa.delete(StageRun).where(StageRun.job_id == job_id))


def set_duration(session: Session, job_id: str, seconds: float) -> None:
    session.execute(sa.update(Job).where(Job.id == job_id).values(audio_duration=seconds))


def unfinished_jobs(session: Session, older_than: dt.datetime | None = None) -> list[Job]:
    query = sa.select(Job).where(Job.status.in_(ACTIVE))
    if older_than is not None:
        query = query.where(Job.created_at < older_than)
    return list(session.scalars(query))


def delete_job(session: Session, job_id: str) -> bool:
    """Delete the job and its stage rows (the caller deletes its stored objects)."""
    job = session.get(Job, job_id)
    if job is None:
        return False
    session.delete(job)
    return True
