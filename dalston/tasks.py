"""Celery tasks: thin views over the stage modules in ``dalston.stages``.

Each task is ``StageTask.run_stage`` (begin → ``stage.run(job, store, engine, report)`` →
finish) plus what only that task does to the canvas: prepare replaces itself with the rest
of the canvas, merge completes the job. See ``dalston.task_base`` for the bookkeeping.
"""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

from dalston.pipeline import dispatch
from dalston.pipeline.stages import Stage
from dalston.stages import align as align_stage
from dalston.stages import diarize as diarize_stage
from dalston.stages import merge as merge_stage
from dalston.stages import prepare as prepare_stage
from dalston.stages import transcribe as transcribe_stage
from dalston.stages import whisperx_full as whisperx_full_stage
from dalston.stages.context import no_report
from dalston.task_base import RETRY, StageTask

log = get_task_logger(__name__)

#: run_stage's answers when the stage did not run to its end.
STOPPED = frozenset({"skipped", "cancelled", "deleted"})


def _stage_task(stage: Stage):
    return shared_task(bind=True, base=StageTask, name=stage.task_name, **RETRY)


@_stage_task(Stage.PREPARE)
def prepare(self: StageTask, job_id: str):
    """Decode and cut the audio, then replace itself with the rest of the canvas."""
    summary = self.run_stage(prepare_stage, job_id)
    if STOPPED & set(summary):
        return summary
    manifest = prepare_stage.load_manifest(job_id, self.store)
    with self.session() as session:
        plan = dispatch.plan_after_prepare(self.app, session, job_id, manifest)
    if plan is None:
        return {"job_id": job_id, "cancelled": True}
    log.info("job %s: %d chunks to transcribe", job_id, summary["chunks"])
    return self.replace(plan.signature)


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
    """Stitch the chunks, store the transcript, complete the job."""
    self.wait_for_header(job_id)
    if not self.begin(job_id):
        return {"job_id": job_id, "skipped": True}
    transcript = merge_stage.run(self.load_job(job_id), self.store, None, no_report)
    if not self.finish(job_id):
        return {"job_id": job_id, "deleted": True}
    done = self.complete(job_id, transcript)
    return {"job_id": job_id, "completed": done, "segments": len(transcript["segments"])}
