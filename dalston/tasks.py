"""Celery tasks: thin views over the pure stage functions in ``dalston.stages``.

Each task loads ids, marks its stage row running (counting attempts), calls the stage
function with an engine and the store, marks the row done and returns a small dict.
Failures end the job ``failed`` with a reason (``StageTask.on_failure``); transient
infrastructure errors (database, storage, network) are retried with backoff first. A job
that was cancelled or failed makes its remaining tasks return at once.
"""

from __future__ import annotations

import collections
import functools
import tempfile
import time
from pathlib import Path

import botocore.exceptions
import sqlalchemy.exc
from celery import Task, shared_task
from celery.utils.log import get_task_logger

from dalston.config import get_settings
from dalston.db import queries
from dalston.db.session import session_scope
from dalston.errors import JobCancelled, StageError
from dalston.options import JobOptions
from dalston.pipeline import builder
from dalston.pipeline.stages import Stage
from dalston.stages import align as align_stage
from dalston.stages import diarize as diarize_stage
from dalston.stages import merge as merge_stage
from dalston.stages import prepare as prepare_stage
from dalston.stages import transcribe as transcribe_stage
from dalston.stages import whisperx_full as whisperx_full_stage
from dalston.storage import keys, make_store

log = get_task_logger(__name__)

TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    ConnectionError,
    TimeoutError,
)
RETRY = dict(
    autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=4
)

#: Seconds between progress writes (and cancellation checks) of a running stage.
PROGRESS_INTERVAL = 1.0


class StageTask(Task):
    """Base of every stage task: settings, store and database access, failure bookkeeping."""

    @property
    def settings(self):
        return get_settings()

    @functools.cached_property
    def store(self):
        return make_store(self.settings)

    def session(self):
        return session_scope(self.settings.database_url)

    def start(self, job_id: str, part: int = 0) -> bool:
        """Mark the stage running; False when the job is gone, finished, or out of attempts."""
        stage = self.name.split(".", 1)[1]
        with self.session() as session:
            run = queries.begin_stage(
                session, job_id, stage, part, task_id=self.request.id, worker=self.request.hostname
            )
            if run is None:
                log.info("job %s is not active; %s[%s] skipped", job_id, stage, part)
                return False
            if run.attempts > self.settings.max_stage_attempts:
                queries.fail_job(
                    session,
                    job_id,
                    "stage_interrupted",
                    f"the {stage} stage was started {run.attempts - 1} times without finishing "
                    "(its worker stopped each time, e.g. out of memory); giving up",
                    stage=stage,
                    part=part,
                )
                return False
        return True

    def options(self, job_id: str) -> JobOptions:
        """The job's plan, as stored when it was submitted."""
        with self.session() as session:
            return JobOptions.from_dict(queries.get_job(session, job_id).options)

    def finish(self, job_id: str, part: int = 0) -> bool:
        """Mark the stage done. False if the job was deleted meanwhile: then its outputs go too."""
        with self.session() as session:
            if queries.job_status(session, job_id) is None:
                self.store.delete_prefix(keys.job_prefix(job_id))
                return False
            queries.finish_stage(session, job_id, self.name.split(".", 1)[1], part)
        return True

    def progress_reporter(self, job_id: str, part: int = 0):
        """A callback that stores progress; it raises JobCancelled once the job is not active."""
        stage = self.name.split(".", 1)[1]
        last = [0.0]

        def report(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            with self.session() as session:
                if queries.job_status(session, job_id) not in queries.ACTIVE:
                    raise JobCancelled(job_id)
                queries.set_progress(session, job_id, stage, part, fraction)
            # Shown by Flower and AsyncResult.info while the task runs.
            self.update_state(
                state="PROGRESS",
                meta={"job_id": job_id, "part": part, "progress": round(float(fraction), 3)},
            )

        return report

    def job_ended(self, job_id: str) -> None:
        """Tell whoever asked (a family's webhook task, named on the job) that it ended."""
        with self.session() as session:
            job = queries.get_job(session, job_id)
            notify_task = job.notify_task if job is not None else None
        if notify_task:
            self.app.send_task(notify_task, args=(job_id,))

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id, part = args[0], (args[1] if len(args) > 1 else 0)
        stage = self.name.split(".", 1)[1]
        if isinstance(exc, StageError):
            code, message = exc.code, exc.message
        else:
            code, message = (
                "internal_error",
                f"the {stage} stage failed: {exc.__class__.__name__}: {exc}",
            )
        try:
            with self.session() as session:
                ended = queries.fail_job(session, job_id, code, message, stage=stage, part=part)
            if ended:
                self.job_ended(job_id)
        except Exception:  # the database itself is down: the log is all we have
            log.exception("could not record the failure of job %s", job_id)


def _stage_task(stage: Stage):
    return shared_task(bind=True, base=StageTask, name=stage.task_name, **RETRY)


def _model_options(settings, options: JobOptions) -> dict:
    """What every Whisper-running engine is given: the model, where and how to run it."""
    return dict(
        model=options.model,
        model_dir=settings.model_dir,
        device=settings.device,
        compute_type=settings.compute_type,
        batch_size=settings.batch_size,
        language=options.language,
    )


def _cancelled(task: StageTask, job_id: str, part: int = 0) -> dict:
    log.info("job %s was cancelled during %s[%s]", job_id, task.name, part)
    return {"job_id": job_id, "cancelled": True}


@_stage_task(Stage.PREPARE)
def prepare(self: StageTask, job_id: str):
    """Decode and cut the audio, then replace itself with the rest of the canvas."""
    if not self.start(job_id):
        return {"job_id": job_id, "skipped": True}
    settings = self.settings
    with self.session() as session:
        job = queries.get_job(session, job_id)
        options, source_url = JobOptions.from_dict(job.options), job.source_url
    if source_url and not self.store.exists(keys.source(job_id)):
        from dalston import fetch

        with tempfile.TemporaryDirectory(prefix="dalston-fetch-") as tmp:
            dest = Path(tmp) / "source"
            try:
                fetch.download(
                    source_url,
                    dest,
                    max_bytes=settings.max_upload_bytes,
                    timeout=settings.url_fetch_timeout,
                    allow_private=settings.allow_private_urls,
                )
            except ValueError as exc:
                raise StageError("url_fetch_failed", str(exc)) from exc
            self.store.put_file(keys.source(job_id), dest)
    manifest = prepare_stage.run(
        job_id,
        self.store,
        # whisperx-full takes the whole file in one task: one chunk, however long.
        float("inf") if options.whole_file_engine else settings.chunk_seconds,
        per_channel=options.per_channel,
    )
    plan = builder.after_prepare(self.app, job_id, options, [c["index"] for c in manifest["chunks"]])
    if not self.finish(job_id):
        return {"job_id": job_id, "deleted": True}
    with self.session() as session:
        queries.set_duration(session, job_id, manifest["duration"])
        # One row per planned task, so progress and cancellation see the whole plan.
        seconds = {c["index"]: round(c["end"] - c["start"], 3) for c in manifest["chunks"]}
        for (stage, part), task_id in plan.task_ids.items():
            if stage == Stage.MERGE.value:
                # Task.replace gives the chord's body another id; merge records it on start.
                queries.ensure_stage(session, job_id, stage, part)
                continue
            chunk_stage = stage in (Stage.TRANSCRIBE.value, Stage.ALIGN.value)
            whole_file = stage == Stage.WHISPERX_FULL.value
            queries.ensure_stage(
                session,
                job_id,
                stage,
                part,
                task_id=task_id,
                audio_seconds=(
                    seconds[part] if chunk_stage else manifest["duration"] if whole_file else None
                ),
            )
        if queries.job_status(session, job_id) not in queries.ACTIVE:
            return _cancelled(self, job_id)
    log.info("job %s: %d chunks to transcribe", job_id, len(manifest["chunks"]))
    return self.replace(plan.signature)


@_stage_task(Stage.TRANSCRIBE)
def transcribe(self: StageTask, job_id: str, part: int):
    """Transcribe one chunk."""
    if not self.start(job_id, part):
        return {"job_id": job_id, "part": part, "skipped": True}
    from dalston.engines import get_transcriber

    settings = self.settings
    job = self.options(job_id)
    options = dict(
        _model_options(settings, job),
        cpu_threads=settings.cpu_threads,
        prompt=job.prompt,
        vocabulary=list(job.vocabulary) if job.vocabulary else None,
        temperature=job.temperature,
        beam_size=job.beam_size,
        word_timestamps=job.word_timestamps,
        seed=job.seed,
        task=job.task,
        tag_audio_events=job.tag_audio_events,
    )
    try:
        result = transcribe_stage.run(
            job_id,
            part,
            self.store,
            get_transcriber(),
            options,
            on_progress=self.progress_reporter(job_id, part),
        )
    except JobCancelled:
        return _cancelled(self, job_id, part)
    self.finish(job_id, part)
    return {"job_id": job_id, "part": part, "segments": len(result["segments"])}


@_stage_task(Stage.ALIGN)
def align(self: StageTask, job_id: str, part: int):
    """Refine the word timestamps of one transcribed chunk."""
    if not self.start(job_id, part):
        return {"job_id": job_id, "part": part, "skipped": True}
    from dalston.engines import get_aligner

    result = align_stage.run(job_id, part, self.store, get_aligner(self.options(job_id).align_engine))
    self.finish(job_id, part)
    words = [w for s in result["segments"] for w in s.get("words", [])]
    return {
        "job_id": job_id,
        "part": part,
        "aligned": sum(w.get("timing", "whisper") != "whisper" for w in words),
        "words": len(words),
    }


@_stage_task(Stage.DIARIZE)
def diarize(self: StageTask, job_id: str):
    """Find speaker turns in the prepared audio."""
    if not self.start(job_id):
        return {"job_id": job_id, "skipped": True}
    from dalston.engines import get_diarizer

    job = self.options(job_id)
    options = dict(job.speaker_constraints)
    if job.diarization_threshold is not None:  # ElevenLabs' diarization_threshold
        options["threshold"] = job.diarization_threshold
    turns = diarize_stage.run(job_id, self.store, get_diarizer(job.diarize_engine), options)
    self.finish(job_id)
    return {"job_id": job_id, "turns": len(turns), "speakers": len({t["speaker"] for t in turns})}


@_stage_task(Stage.WHISPERX_FULL)
def whisperx_full(self: StageTask, job_id: str):
    """Transcribe, align and diarize the whole file with the whisperx-full engine."""
    if not self.start(job_id):
        return {"job_id": job_id, "skipped": True}
    from dalston.engines import get_pipeline

    settings = self.settings
    job = self.options(job_id)
    options = dict(
        _model_options(settings, job), diarize=job.needs_diarize, **job.speaker_constraints
    )
    try:
        transcript, turns = whisperx_full_stage.run(
            job_id,
            self.store,
            get_pipeline(job.transcribe_engine),
            options,
            on_progress=self.progress_reporter(job_id),
        )
    except JobCancelled:
        return _cancelled(self, job_id)
    self.finish(job_id)
    return {
        "job_id": job_id,
        "segments": len(transcript["segments"]),
        "speakers": len({t["speaker"] for t in turns}),
    }


#: How long merge waits for chunks still running when the chord fired early.
MERGE_WAIT_SECONDS = 2.0


@_stage_task(Stage.MERGE)
def merge(self: StageTask, job_id: str):
    """Stitch the chunks, store the transcript, complete the job."""
    with self.session() as session:
        active = queries.job_status(session, job_id) in queries.ACTIVE
        pending = collections.Counter()
        for stage in (Stage.TRANSCRIBE, Stage.ALIGN, Stage.DIARIZE, Stage.WHISPERX_FULL):
            pending.update(queries.stage_summary(session, job_id, stage.value))
    if active and (pending.get("running") or pending.get("pending")):
        # A chunk delivered twice (its worker died, or it outlived the visibility timeout)
        # counts twice in the chord, which can fire before every chunk is done. Wait for them.
        log.info("job %s: merge waits for chunks %s", job_id, pending)
        raise self.retry(countdown=MERGE_WAIT_SECONDS, max_retries=None)
    if not self.start(job_id):
        return {"job_id": job_id, "skipped": True}
    options = self.options(job_id)
    manifest = prepare_stage.load_manifest(job_id, self.store)
    chunks = merge_stage.load_chunks(job_id, self.store, manifest, aligned=options.merges_aligned)
    turns = diarize_stage.load_turns(job_id, self.store) if options.needs_diarize else None
    if options.per_channel:
        turns = merge_stage.channel_turns(manifest, chunks)
    transcript = merge_stage.stitch(
        manifest, chunks, options.language, word_level=options.word_timestamps, turns=turns
    )
    merge_stage.write_outputs(job_id, self.store, transcript)
    if not self.finish(job_id):
        return {"job_id": job_id, "deleted": True}
    with self.session() as session:
        done = queries.complete_job(session, job_id, transcript)
    if done:
        self.job_ended(job_id)
    return {"job_id": job_id, "completed": done, "segments": len(transcript["segments"])}
