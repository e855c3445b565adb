"""What happens when a job ends, wherever it ends (a worker, or the API cancelling it).

In this order: count it (``dalston_jobs_total``), schedule its retention purge (and purge
at once for ``retention=0``: the transcript is in the database by now), wake whoever waits
on it in this deployment (``dalston.jobevents``: the synchronous answers and the native
long poll; after the retention bookkeeping, so what they read is the job as it stays),
then tell whoever asked — the Celery task named on the job's ``notify_task`` (a family's
webhook), sent ``(job_id,)``. The pipeline knows no family: the family chose the task at
submission.
"""

from __future__ import annotations

import logging

from dalston import jobevents, metrics, retention
from dalston.config import Settings
from dalston.db import queries
from dalston.db.session import session_scope

log = logging.getLogger(__name__)


def job_ended(celery, settings: Settings, store, job_id: str) -> None:
    with session_scope(settings.database_url) as session:
        job = queries.get_job(session, job_id)
        if job is None:
            return
        metrics.job_ended(job.family, job.status)
        purge_now = retention.schedule(session, job, settings)
        notify_task = job.notify_task
    if purge_now:
        with session_scope(settings.database_url) as session:
            retention.purge_job(session, store, job_id)
    # After the retention bookkeeping: a woken waiter sees the job as it stays.
    jobevents.hub(settings.broker_url).publish(job_id)
    if notify_task:
        celery.send_task(notify_task, args=(job_id,))
