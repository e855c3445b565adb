"""The statements of a stage task's own bookkeeping, built once per process.

Every chunk of every job runs them: a stage begins (its job and its row marked running),
finishes (its row marked done, the join's count), and the last one claims merge. Building a
SQLAlchemy statement is not free: the expression tree and its cache key cost about as much
again as the database's own work (measured on the development machine: a begin of two
``UPDATE … RETURNING`` statements 2.8–3.1 ms built per call, 1.5 ms prebuilt and executed
on the session's connection), and the per-chunk cost is figure 3 of ``make bench``. So
these are built here once, with bound parameters, and ``dalston.db.queries`` executes them
with the values of the call. Parameter names carry a ``b_`` prefix: SQLAlchemy reserves a
column's own name for its ``SET`` value.

Each statement works on PostgreSQL and SQLite (``UPDATE … RETURNING``, SQLite ≥ 3.35).
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from dalston.db.models import Job, JobStatus, StageRun, StageStatus

ACTIVE = (JobStatus.PENDING.value, JobStatus.RUNNING.value)
_jobs = Job.__table__.c
_rows = StageRun.__table__.c


def _param(name: str, column: sa.Column) -> sa.BindParameter:
    """A parameter of the column's type (a bare one would not convert a SQLite datetime)."""
    return sa.bindparam(f"b_{name}", type_=column.type)


#: Run first in a begin's transaction on PostgreSQL: its commit does not wait for the WAL
#: to reach the disk (on the development machine that wait was 1.3 ms of a chunk's
#: bookkeeping). What a database crash in the next fraction of a second could lose is a
#: row marked running, one attempt and a worker's name: the task runs on and its finish
#: (an ordinary commit, which also makes every earlier record durable) marks the row
#: done; a lost count of attempts only delays giving up on a task that kills its worker.
#: Never for a finish: that commit is the stage's output and the join.
NO_WAIT_FOR_DISK = sa.text("SET LOCAL synchronous_commit TO OFF")

JOB = _param("job", _jobs.id)
NOW = _param("now", _rows.started_at)
STAGE = _param("stage", _rows.stage)
PART = _param("part", _rows.part)

#: The job of a stage that begins: running (its start time set once, when it was pending),
#: its current stage; what the stage reads of it. Also takes the job's row lock.
START_JOB = (
    sa.update(Job)
    .where(Job.id == JOB, Job.status.in_(ACTIVE))
    .values(
        status=JobStatus.RUNNING.value,
        started_at=sa.case((Job.status == JobStatus.PENDING.value, NOW), else_=Job.started_at),
        current_stage=STAGE,
    )
    .returning(Job.options, Job.source_url, Job.audio_duration)
)

#: The stage row, running, one attempt more (a completed row is left as it is). The task id
#: of the message, or the one the plan recorded when the message names none.
START_ROW = (
    sa.update(StageRun)
    .where(
        StageRun.job_id == JOB,
        StageRun.stage == STAGE,
        StageRun.part == PART,
        StageRun.status != StageStatus.COMPLETED.value,
    )
    .values(
        status=StageStatus.RUNNING.value,
        started_at=NOW,
        completed_at=None,
        worker=_param("worker", _rows.worker),
        progress=0.0,
        error=None,
        task_id=sa.func.coalesce(_param("task_id", _rows.task_id), StageRun.task_id),
        attempts=sa.func.coalesce(StageRun.attempts, 0) + 1,
    )
    .returning(StageRun.attempts, StageRun.task_id)
)

_other = aliased(StageRun, name="other_row")
#: The job's other rows before merge that are not done (the row being marked left out).
_UNFINISHED = (
    sa.select(sa.func.count())
    .select_from(_other)
    .where(
        _other.job_id == JOB,
        _other.stage != "merge",
        _other.status != StageStatus.COMPLETED.value,
        sa.or_(_other.stage != STAGE, _other.part != PART),
    )
    .scalar_subquery()
)


@functools.cache
def finish_row(with_output: bool) -> sa.Update:
    """The stage row, done (with its output: ``b_output``); its times and the join's count."""
    values = dict(status=StageStatus.COMPLETED.value, completed_at=NOW, progress=1.0, error=None)
    if with_output:
        values["output"] = _param("output", _rows.output)
    return (
        sa.update(StageRun)
        .where(StageRun.job_id == JOB, StageRun.stage == STAGE, StageRun.part == PART)
        .values(**values)
        .returning(StageRun.started_at, StageRun.completed_at, StageRun.audio_seconds, _UNFINISHED)
    )


#: Merge's row given the task id ``b_merge_task`` that the join sends it with, once.
CLAIM_MERGE = (
    sa.update(StageRun)
    .where(
        StageRun.job_id == JOB,
        StageRun.stage == "merge",
        StageRun.status == StageStatus.PENDING.value,
        StageRun.task_id.is_(None),
    )
    .values(task_id=_param("merge_task", _rows.task_id))
)

_status = sa.select(Job.status).where(Job.id == JOB)
#: The job's status, its row locked until the transaction ends (``FOR UPDATE``).
LOCK_JOB = _status.with_for_update()
#: The same on SQLite, which has no such clause: it locks the whole database on a
#: transaction's first write instead.
LOCK_JOB_SQLITE = _status


@functools.cache
def outputs(one_part: bool) -> sa.Select:
    """The outputs of a job's rows of ``b_stage``, by part (of ``b_part`` only, or all)."""
    query = sa.select(StageRun.part, StageRun.output).where(
        StageRun.job_id == JOB, StageRun.stage == STAGE
    )
    return query.where(StageRun.part == PART) if one_part else query
