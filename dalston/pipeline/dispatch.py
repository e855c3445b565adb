"""Submit a job: commit its rows first, then send the first task (commit before dispatch).

A worker can pick the task up before the web request's transaction is visible; committing
first means every stage finds its job.
"""

from __future__ import annotations

import logging

from celery import Celery
from sqlalchemy.orm import Session

from dalston.db import queries
from dalston.db.models import Job
from dalston.pipeline import builder
from dalston.pipeline.stages import Stage

log = logging.getLogger(__name__)


def submit(app: Celery, session: Session, job: Job) -> None:
    """Commit ``job`` with its prepare row, then dispatch the canvas.

    Raises:
        kombu / redis connection errors when the broker is unreachable (the job is then
        marked failed with ``broker_unavailable`` before the error propagates).
    """
    plan = builder.initial(app, job.id)
    job.root_task_id = plan.task_ids[(Stage.PREPARE.value, 0)]
    session.add(job)
    session.flush()
    queries.ensure_stage(session, job.id, Stage.PREPARE.value, 0, task_id=job.root_task_id)
    session.commit()
    try:
        plan.signature.apply_async(
            retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2}
        )
    except Exception as exc:
        log.exception("could not dispatch job %s", job.id)
        queries.fail_job(session, job.id, "broker_unavailable", f"could not queue the job: {exc}")
        session.commit()
        raise


def resubmit_unfinished(app: Celery, session: Session) -> int:
    """Send every unfinished job from the start again (after an embedded restart).

    Stages are idempotent, so a job that had got half way simply runs again.
    """
    count = 0
    for job in queries.unfinished_jobs(session):
        plan = builder.initial(app, job.id)
        queries.reset_stages(session, job.id)
        queries.ensure_stage(
            session, job.id, Stage.PREPARE.value, 0, task_id=plan.task_ids[("prepare", 0)]
        )
        session.commit()
        plan.signature.apply_async()
        count += 1
    return count
