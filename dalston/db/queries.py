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

from dalston.db import stage_statements as statements
from dalston.db.models import Job, JobStatus, StageRun, StageStatus, utcnow

ACTIVE = statements.ACTIVE


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


class BegunStage(NamedTuple):
    """What a stage task reads of its job as it begins, and the attempt it is on."""

    options: dict
    source_url: str | None
    audio_duration: float | None
    attempts: int
    task_id: str | None


def begin_stage(
    session: Session, job_id: str, stage: str, part: int, *, task_id: str | None, worker: str | None
) -> BegunStage | None:
    """Mark a stage running and its job running; what the stage reads of the job.

    ``None`` if the job is gone or finished, or the stage row is already done. Two
    ``UPDATE … RETURNING`` statements (``dalston.db.stage_statements``): the job's, which
    also takes its row lock (the job first, then its stage rows: see :func:`lock_job`), and
    the stage row's; on PostgreSQL its commit does not wait for the disk
    (``NO_WAIT_FOR_DISK``: why that is safe for a begin, and only for a begin).
    """
    params = _params(job_id, stage, part, task_id=task_id, worker=worker)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(statements.NO_WAIT_FOR_DISK)
    job = connection.execute(statements.START_JOB, params).first()
    if job is None:
        return None
    run = connection.execute(statements.START_ROW, params).first()
    if run is None:
        if ensure_stage(session, job_id, stage, part).status == StageStatus.COMPLETED.value:
            # A second delivery of a finished stage (its message outlived the visibility
            # timeout): the outputs exist, nothing to redo.
            return None
        # A row the plan did not record, created pending just now.
        run = connection.execute(statements.START_ROW, params).first()
    return BegunStage(job.options or {}, job.source_url, job.audio_duration, *run)


def _params(job_id: str, stage: str, part: int, **more) -> dict:
    """The bound values of ``dalston.db.stage_statements`` for one stage row, now."""
    values = {"b_job": job_id, "b_stage": stage, "b_part": part, "b_now": utcnow()}
    return values | {f"b_{name}": value for name, value in more.items()}


def set_progress(session: Session, job_id: str, stage: str, part: int, fraction: float) -> None:
    session.execute(
        sa.update(StageRun)
        .where(StageRun.job_id == job_id, StageRun.stage == stage, StageRun.part == part)
        .values(progress=float(max(0.0, min(1.0, fraction))))
    )


class FinishedStage(NamedTuple):
    """What a stage row that was just marked done tells: its times for the metrics, and
    how many of the job's other rows before merge are not done yet (the join's count)."""

    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    audio_seconds: float | None
    unfinished: int


def finish_stage(
    session: Session, job_id: str, stage: str, part: int = 0, output: dict | None = None
) -> FinishedStage | None:
    """Mark a stage done, with its ``output`` if it has one; None when the row is gone (the
    job was deleted).

    One statement: the join's count of the job's other unfinished rows (merge's aside)
    comes back with the row. It reads the statement's snapshot, taken after the caller
    locked the job (:func:`lock_job`), so it sees every row a stage that finished before
    it marked; its own row is left out of it, done or not in that snapshot.
    """
    statement = statements.finish_row(output is not None)
    params = _params(job_id, stage, part, output=output)
    row = session.connection().execute(statement, params).first()
    return FinishedStage(*row) if row is not None else None


def lock_job(session: Session, job_id: str) -> str | None:
    """Lock the job's row until the transaction ends; its status (None: it is gone).

    Every transaction that changes a job's stage rows or decides from them what comes next
    (:func:`claim_merge`) takes the job's row lock first (this, or :func:`begin_stage`'s
    update of the job), so they see each other's rows in one order and never deadlock on
    them.
    """
    sqlite = session.bind.dialect.name == "sqlite"
    lock = statements.LOCK_JOB_SQLITE if sqlite else statements.LOCK_JOB
    return session.connection().execute(lock, {"b_job": job_id}).scalar()


def claim_merge(session: Session, job_id: str, task_id: str, finished: FinishedStage) -> bool:
    """The join: if every stage row of the job but merge is done, give merge ``task_id``.

    True once per job: for the caller that finds the rest done (``finished.unfinished``,
    counted as :func:`finish_stage` marked its own row) while merge's row has no task id
    yet; that caller sends merge with ``task_id`` after committing. Called with the job row
    locked (:func:`lock_job`) before that row was marked, so two stages finishing at once
    are serialised and the second sees the first's row.
    """
    if finished.unfinished:
        return False
    claim = {"b_job": job_id, "b_merge_task": task_id}
    return session.connection().execute(statements.CLAIM_MERGE, claim).rowcount > 0


def stage_outputs(
    session: Session, job_id: str, stage: str, part: int | None = None
) -> dict[int, dict | None]:
    """The outputs of a job's rows of ``stage`` (one ``part``, or all), by part."""
    query = statements.outputs(part is not None)
    rows = session.connection().execute(query, {"b_job": job_id, "b_stage": stage, "b_part": part})
    return {p: output for p, output in rows}


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
