"""Submit a job and extend its canvas: commit its rows first, then send (commit before dispatch).

A worker can pick a task up before the web request's transaction is visible; committing
first means every stage finds its job. Each planned task gets a ``stage_runs`` row up front
(:func:`record_plan`), so progress, cancellation and revocation see the whole plan.
"""

from __future__ import annotations

import logging

from celery import Celery
from sqlalchemy.orm import Session

from dalston.contracts import Chunk, PreparedAudio
from dalston.db import queries
from dalston.db.models import Job
from dalston.errors import BrokerUnavailable
from dalston.options import JobOptions
from dalston.pipeline import builder, reconcile
from dalston.pipeline.stages import Stage

log = logging.getLogger(__name__)


def record_plan(
    session: Session,
    job_id: str,
    plan: builder.Plan,
    chunks: list[Chunk] = (),
    duration: float | None = None,
) -> None:
    """A pending ``stage_runs`` row per planned task, with its task id and audio seconds.

    Per-chunk stages weigh progress by their chunk's seconds, whole-file stages by the
    file's ``duration``.
    """
    seconds = {c["index"]: round(c["end"] - c["start"], 3) for c in chunks}
    # merge's row has no task id until the join sends it (``queries.claim_merge``).
    planned = [queries.PlannedStage(Stage.MERGE.value, 0)] if plan.merge else []
    for (stage, part), task_id in plan.task_ids.items():
        spec = Stage(stage).spec
        if spec.per_chunk:
            audio_seconds = seconds.get(part)
        elif spec.engine == "pipeline":
            audio_seconds = duration
        else:
            audio_seconds = None
        planned.append(queries.PlannedStage(stage, part, task_id, audio_seconds))
    queries.ensure_stages(session, job_id, planned)


def plan_first_chunk(
    app: Celery, session: Session, job_id: str, options: JobOptions, chunk: Chunk
) -> builder.Plan | None:
    """The work of the chunk prepare sends while it still decodes, with its rows recorded.

    None when the job stopped being active meanwhile (cancelled, failed, deleted).
    """
    if queries.lock_job(session, job_id) not in queries.ACTIVE:  # and a delete waits
        return None
    plan = builder.first_chunk(app, job_id, options, chunk["index"])
    record_plan(session, job_id, plan, [chunk])
    return plan


def plan_after_prepare(
    app: Celery,
    session: Session,
    job_id: str,
    manifest: PreparedAudio,
    sent: frozenset[int] = frozenset(),
) -> builder.Plan | None:
    """The rest of the work once prepare has cut the audio, with its rows recorded.

    ``sent``: the chunks whose work prepare sent already (:func:`plan_first_chunk`). None
    when the job stopped being active meanwhile (cancelled, failed, deleted).
    """
    if queries.lock_job(session, job_id) not in queries.ACTIVE:  # and a delete waits
        return None
    options = JobOptions.from_dict(queries.get_job(session, job_id).options)
    chunks = [c["index"] for c in manifest["chunks"]]
    plan = builder.after_prepare(app, job_id, options, chunks, sent)
    queries.set_duration(session, job_id, manifest["duration"])
    record_plan(session, job_id, plan, manifest["chunks"], manifest["duration"])
    return plan


def submit(app: Celery, session: Session, job: Job) -> None:
    """Commit ``job`` with its prepare row, then dispatch the canvas.

    Raises:
        BrokerUnavailable: the broker is unreachable (the job is then marked failed with
            ``broker_unavailable``); database errors propagate as they are (nothing was
            committed).
    """
    plan = builder.initial(app, job.id)
    job.root_task_id = plan.task_ids[(Stage.PREPARE.value, 0)]
    session.add(job)
    session.flush()
    record_plan(session, job.id, plan)
    session.commit()
    try:
        plan.signature.apply_async(
            retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2}
        )
    except Exception as exc:
        log.exception("could not dispatch job %s", job.id)
        queries.fail_job(
            session,
            job.id,
            "broker_unavailable",
            "could not queue the job: the broker is down",
        )
        session.commit()
        raise BrokerUnavailable(job.id) from exc


def resubmit_unfinished(app: Celery, session: Session, limits: tuple = ()) -> int:
    """Resend what every unfinished job still needs (embedded mode's start-up).

    The reconciler's pass with an empty broker snapshot and no grace: the in-memory broker
    died with the last process, so every ready, unfinished stage is lost. Done stages are
    not run again (their outputs are stored); stages are idempotent, so a duplicate is
    harmless.
    """
    return len(reconcile.run(app, session, grace=0.0, limits=limits, snapshot=frozenset()))
