"""Celery tasks: thin views over the stage modules in ``dalston.stages``.

Each task is ``StageTask.run_stage`` (begin → ``stage.run(job, store, engine, report)`` →
finish) plus what only that task does to the canvas: prepare sends the first chunk's work
as soon as it is cut and the rest once the file is planned, merge completes the job. See
``dalston.task_base`` for the bookkeeping.

No crash window: a stage's "done" is written only after what makes the next step happen.
Prepare records the rest of the plan, sends it, and only then marks itself done: a crash
before that leaves prepare undone, so its redelivered message runs it again and sends the
rest again (a duplicate the stages skip). The last stage before merge sends merge in the
commit that marks it done (the join, ``StageTask.finish``). Merge completes the job and
marks itself done in one commit (``StageTask.complete``). Whatever slips past (a message
lost with the broker) the reconciler (``dalston.pipeline.reconcile``) sends again.
"""

from __future__ import annotations

import dataclasses

from celery import shared_task
from celery.utils.log import get_task_logger

from dalston.config import get_settings
from dalston.contracts import Chunk
from dalston.db.session import session_scope
from dalston.errors import JobCancelled
from dalston.pipeline import dispatch
from dalston.pipeline import reconcile as reconciler
from dalston.pipeline.stages import Stage
from dalston.stages import align as align_stage
from dalston.stages import diarize as diarize_stage
from dalston.stages import merge as merge_stage
from dalston.stages import prepare as prepare_stage
from dalston.stages import transcribe as transcribe_stage
from dalston.stages import whisperx_full as whisperx_full_stage
from dalston.stages.context import StageJob, no_report
from dalston.task_base import RECORD_FAILURE, RETRY, FailureRecorder, StageTask

log = get_task_logger(__name__)


#: How prepare sends the work it plans: a broker restart (seconds) is waited out rather than
#: failing the job; past this the error is transient (``task_base.TRANSIENT``) and retried.
SEND = dict(
    retry=True,
    retry_policy={
        "max_retries": 10,
        "interval_start": 0.5,
        "interval_step": 0.5,
        "interval_max": 2,
    },
)


def _stage_task(stage: Stage):
    return shared_task(bind=True, base=StageTask, name=stage.task_name, **RETRY)


@_stage_task(Stage.PREPARE)
def prepare(self: StageTask, job_id: str):
    """Decode and cut the audio, sending the first chunk's work as soon as it is cut and the
    rest when the whole file is planned; then mark prepare done."""
    sent: set[int] = set()

    def send_first(job: StageJob, chunk: Chunk) -> None:
        with self.session() as session:
            plan = dispatch.plan_first_chunk(self.app, session, job_id, job.options, chunk)
        if plan is None:  # cancelled or deleted meanwhile: stop decoding (run_stage cleans up)
            raise JobCancelled(job_id)
        plan.signature.apply_async(**SEND)
        sent.add(chunk["index"])
        log.info("job %s: chunk %d sent while prepare decodes on", job_id, chunk["index"])

    return self.run_stage(
        prepare_stage,
        job_id,
        then=lambda job, summary: _send_rest(self, job, summary, frozenset(sent)),
        on_first_chunk=send_first,
    )


def _send_rest(self: StageTask, job: StageJob, summary: dict, sent: frozenset[int]) -> dict:
    """Prepare's end: record and send the rest of the work, and only then mark it done.

    Marking prepare done is also the join's last chance (``StageTask.finish``): a job with
    no speech, or whose chunks all finished while prepare still ran, gets merge from it.
    """
    job_id = job.id
    self.fault("prepare.before_dispatch")
    manifest = prepare_stage.load_manifest(job_id, self.store, cached=True)  # just written
    with self.session() as session:
        plan = dispatch.plan_after_prepare(self.app, session, job_id, manifest, sent)
    if plan is None:  # cancelled meanwhile, or deleted: then what prepare wrote goes too
        self.clean_up_if_deleted(job_id)
        return {"job_id": job_id, "cancelled": True}
    log.info("job %s: %d chunks to transcribe", job_id, len(manifest["chunks"]))
    if plan.signature is not None:
        plan.signature.apply_async(**SEND)
    self.fault("prepare.after_dispatch")
    self.finish(job_id, 0, dataclasses.replace(job, audio_duration=manifest["duration"]))
    self.fault("prepare.after_done")
    return {**summary, "sent_early": sorted(sent)}


@_stage_task(Stage.TRANSCRIBE)
def transcribe(self: StageTask, job_id: str, part: int):
    """Transcribe one chunk."""
    return self.run_stage(transcribe_stage, job_id, part)


@_stage_task(Stage.ALIGN)
def align(self: StageTask, job_id: str, part: int):
    """Refine the word timestamps of one transcribed chunk."""
    return self.run_stage(align_stage, job_id, part)


@_stage_task(Stage.DIARIZE)
def diarize(self: StageTask, job_id: str):
    """Find speaker turns in the prepared audio."""
    return self.run_stage(diarize_stage, job_id)


@_stage_task(Stage.WHISPERX_FULL)
def whisperx_full(self: StageTask, job_id: str):
    """Transcribe, align and diarize the whole file with the whisperx-full engine."""
    return self.run_stage(whisperx_full_stage, job_id)


@_stage_task(Stage.MERGE)
def merge(self: StageTask, job_id: str):
    """Stitch the chunks, store the transcript, complete the job (sent by the join)."""
    job = self.begin(job_id, reads=merge_stage.reads)
    if job is None:
        return {"job_id": job_id, "skipped": True}
    transcript = merge_stage.run(job, self.store, None, no_report)
    done = self.complete(job, transcript)
    return {
        "job_id": job_id,
        "completed": done,
        "segments": len(transcript["segments"]),
    }


@shared_task(bind=True, base=FailureRecorder, name=RECORD_FAILURE, **RETRY)
def record_failure(self: StageTask, job_id: str, code: str, message: str, stage: str, part: int):
    """Write a stage's failure that its task could not (the database was down then)."""
    self.record_failure(job_id, code, message, stage, part)
    return {"job_id": job_id, "failed": code}


@shared_task(bind=True, name="dalston.reconcile", ignore_result=True)
def reconcile(self):
    """One reconciler pass (``celeryconfig.beat_schedule``): resend the stages the broker lost."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        sent = reconciler.run(
            self.app,
            session,
            grace=settings.reconcile_grace,
            limits=settings.stage_time_limits,
        )
    return len(sent)
