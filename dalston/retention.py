"""Retention: how long a job's audio and artifacts are kept once it has ended.

A job's ``retention`` (days; the native API's field, else ``DALSTON_RETENTION_DAYS``) is
stored on the row when it is submitted. When the job ends (completed, failed, cancelled)
``purge_after`` is set to its end plus that many days; ``0`` purges at once (the transcript
is already in the database), ``-1`` never. The purge (:func:`purge_due`: the beat task
``dalston.retention.purge``, every ``DALSTON_RETENTION_INTERVAL_SECONDS``, and a timer in
embedded mode) removes every stored object under ``jobs/<id>/`` — the upload, the prepared
audio, chunks and intermediate results — clears the chunk transcripts on its stage rows,
and sets ``purged_at``.

What stays: the job row, its metadata, its stage rows, its delivery log and its transcript
(the ``result`` column), so ``GET`` still shows the job ``completed`` with its text and the
exports (rendered from the database) still work. What is gone answers ``410 purged``: the
job's audio. ``DELETE`` removes the rest.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from celery import shared_task
from sqlalchemy.orm import Session

from dalston.config import Settings, get_settings
from dalston.db.models import Job, JobStatus, StageRun, utcnow
from dalston.db.session import session_scope
from dalston.storage import keys, make_store

log = logging.getLogger(__name__)

KEEP = -1
TASK_NAME = "dalston.retention.purge"
TERMINAL = (
    JobStatus.COMPLETED.value,
    JobStatus.FAILED.value,
    JobStatus.CANCELLED.value,
)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def days_for(requested: int | None, settings: Settings) -> int:
    """The retention a new job gets: the request's, else the server's default."""
    return settings.retention_days if requested is None else requested


def schedule(
    session: Session, job: Job, settings: Settings, now: dt.datetime | None = None
) -> bool:
    """Set ``purge_after`` on a job that just ended; True when it is due already."""
    now = now or utcnow()
    days = days_for(job.retention_days, settings)
    if days < 0 or job.purged_at is not None:
        return False
    ended = _aware(job.completed_at or now)
    job.purge_after = ended + dt.timedelta(days=days)
    session.flush()
    return _aware(job.purge_after) <= now


def purge_job(session: Session, store, job_id: str) -> int:
    """Remove a job's stored objects and mark it purged; the objects removed."""
    removed = store.delete_prefix(keys.job_prefix(job_id))
    # The chunks' transcripts on the stage rows are intermediate results too.
    session.execute(sa.update(StageRun).where(StageRun.job_id == job_id).values(output=None))
    session.execute(sa.update(Job).where(Job.id == job_id).values(purged_at=utcnow()))
    log.info("retention: purged job %s (%d objects)", job_id, removed)
    return removed


def purge_due(settings: Settings, store=None, now: dt.datetime | None = None, limit=500) -> int:
    """Purge every ended job whose ``purge_after`` has passed; how many were purged."""
    store = store or make_store(settings)
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        due = list(
            session.scalars(
                sa.select(Job.id)
                .where(
                    Job.purge_after.is_not(None),
                    Job.purge_after <= now,
                    Job.purged_at.is_(None),
                    Job.status.in_(TERMINAL),
                )
                .order_by(Job.purge_after)
                .limit(limit)
            )
        )
    for job_id in due:
        with session_scope(settings.database_url) as session:
            purge_job(session, store, job_id)
    return len(due)


@shared_task(name=TASK_NAME)
def purge() -> dict:
    """The beat task (``celeryconfig.beat_schedule``)."""
    return {"purged": purge_due(get_settings())}
