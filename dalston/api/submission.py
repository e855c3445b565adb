"""What every API family does to start a job, and to wait for one.

The native, ElevenLabs and OpenAI endpoints differ in their fields, their answers and
their error shapes, not in how a job is made: the upload is checked at the edge (non-empty,
decodable audio, channel count, not longer than ``DALSTON_MAX_AUDIO_SECONDS``), stored only
then, the job row committed and the canvas dispatched. A submission whose row cannot be
committed removes what it stored, so no object outlives a failed request.
Errors are raised as :class:`~dalston.errors.ApiError`; each API family renders them in
its own shape.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import uuid
import wave
from pathlib import Path
from typing import Callable

from flask import g
from sqlalchemy.orm import Session

from dalston import audio, fetch, jobevents, lifecycle, limits, metrics, retention
from dalston.api import db, services
from dalston.auth import current_tenant
from dalston.db import queries
from dalston.db.models import Job, JobStatus
from dalston.errors import ApiError, BrokerUnavailable
from dalston.options import MAX_CHANNELS, JobOptions
from dalston.pipeline import dispatch
from dalston.storage import keys

#: Shorter uploads are refused at once: there is nothing in them to transcribe.
MIN_AUDIO_SECONDS = 0.05


def pcm_to_wav(raw: bytes, sample_rate: int = 16000) -> bytes:
    """Headerless 16-bit little-endian mono PCM (ElevenLabs ``pcm_s16le_16``) as a WAV file."""
    if len(raw) % 2:
        raise ApiError(
            400,
            "invalid_audio",
            "pcm_s16le_16 audio must hold whole 16-bit samples",
            "file",
        )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(raw)
    return out.getvalue()


def store_upload(
    job_id: str,
    upload,
    *,
    per_channel: bool = False,
    max_channels: int = MAX_CHANNELS,
    raw_pcm: bool = False,
) -> str:
    """Check the upload is non-empty, decodable audio and store it; returns its file name.

    The format is found from the content (PyAV), never from the file name or content type:
    SDKs send raw bytes as ``upload``/``application/octet-stream``, or WAV labelled mp3.
    """
    name = os.path.basename(upload.filename or "upload")[:255]
    with tempfile.TemporaryDirectory(prefix="dalston-upload-") as tmp:
        path = Path(tmp) / "upload"
        upload.save(path)
        if path.stat().st_size == 0:
            raise ApiError(400, "empty_file", f"the uploaded file {name!r} is empty", "file")
        if raw_pcm:
            path.write_bytes(pcm_to_wav(path.read_bytes()))
        limit = services().settings.max_audio_seconds
        try:
            info = audio.probe(path, max_seconds=limit)
        except audio.AudioTooLong as exc:
            raise ApiError(
                413,
                "audio_too_long",
                f"{name!r} holds {exc.seconds / 3600:.1f} hours of audio; the limit is "
                f"{limit / 3600:g} hours (DALSTON_MAX_AUDIO_SECONDS)",
                "file",
            ) from exc
        except ValueError as exc:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"could not read audio from {name!r}: {exc}",
                "file",
            ) from exc
        if per_channel and not 2 <= info.channels <= max_channels:
            raise ApiError(
                422,
                "unsupported_option",
                f"one speaker per channel needs 2 to {max_channels} channels; {name!r} has "
                f"{info.channels}",
                "speaker_detection",
            )
        if info.duration is not None and info.duration < MIN_AUDIO_SECONDS:
            raise ApiError(
                400,
                "audio_too_short",
                f"{name!r} holds {info.duration * 1000:.0f} ms of audio; nothing to transcribe",
                "file",
            )
        services().store.put_file(keys.source(job_id), path)
    return name


def check_url(url: str, field: str) -> None:
    try:
        fetch.check_url(url, services().settings.allow_private_urls)
    except fetch.UrlNotAllowed as exc:
        raise ApiError(400, "url_not_allowed", str(exc), field) from exc


def submit_job(
    options: JobOptions,
    *,
    reply: dict | None = None,
    notify_task: str | None = None,
    upload=None,
    audio_url: str | None = None,
    url_field: str = "audio_url",
    raw_pcm: bool = False,
    max_channels: int = MAX_CHANNELS,
    retention_days: int | None = None,
    before_dispatch: Callable[[Session, Job], None] | None = None,
) -> Job:
    """Store the audio (or check the URL), commit the job and dispatch its canvas.

    Args:
        options: the typed job plan, stored on the job row and read by every stage.
        reply: how the calling API family wants its answer; stored apart from the plan
            and read only by that family.
        notify_task: a task name sent ``(job_id,)`` once the job ends (a family's webhook).
        retention_days: days to keep its audio and artifacts once it ends (None: the
            server's ``DALSTON_RETENTION_DAYS``; see ``dalston.retention``).
        before_dispatch: adds rows that belong to the job (a native job's own webhook
            endpoint) to the session, so they are committed with it before dispatch.
    """
    if audio_url:
        check_url(audio_url, url_field)
    limits.admit_job(db())  # 429/503 before anything is stored
    job_id = str(uuid.uuid4())
    per_channel = options.per_channel
    if upload is not None:
        source_name = store_upload(
            job_id,
            upload,
            per_channel=per_channel,
            max_channels=max_channels,
            raw_pcm=raw_pcm,
        )
    else:
        source_name = audio_url.rsplit("/", 1)[-1]
    job = Job(
        id=job_id,
        status=JobStatus.PENDING.value,
        model=options.model,
        options=options.to_dict(),
        reply=reply,
        notify_task=notify_task,
        source_name=source_name[:255] or None,
        source_url=audio_url,
        tenant_id=current_tenant(),
        family=g.get("api_family"),
        retention_days=retention.days_for(retention_days, services().settings),
    )
    if before_dispatch is not None:
        db().add(job)
        db().flush()
        before_dispatch(db(), job)

    def remove_upload() -> None:
        services().store.delete_prefix(keys.job_prefix(job_id))

    try:
        # The limits again, held across API processes until the row is committed.
        with limits.job_slot(db(), refused=remove_upload):
            dispatch.submit(services().celery, db(), job)
    except (BrokerUnavailable, ApiError):
        # The broker: the row exists (failed, with its audio), dalston.errors renders the
        # 503. A refusal: refused() removed the upload.
        raise
    except Exception:
        # The row was never committed (the database is down): remove the stored audio, then
        # let the error be rendered (503 database_unavailable, by dalston.errors).
        try:
            db().rollback()
        except Exception:  # the connection is gone; closing the session on teardown suffices
            pass
        if upload is not None:
            remove_upload()
        raise
    metrics.job_created(job.family)
    return job


class EndWatch:
    """A job's end, watched from before the caller reads the job (``dalston.jobevents``).

    Read the job inside the ``with`` block, then :meth:`wait`: an end between that read and
    the wait still wakes it.
    """

    def __init__(self, job_id: str):
        self.job_id = job_id
        self._events = jobevents.hub(services().settings.broker_url)
        self._watch = self._events.watch(job_id)

    def __enter__(self) -> "EndWatch":
        self._ended = self._watch.__enter__()
        self._since = self._events.epoch()
        return self

    def __exit__(self, *exc) -> None:
        self._watch.__exit__(*exc)

    def wait(self, timeout: float) -> None:
        """Return once the job has ended (or is gone), or after ``timeout`` seconds.

        The notification ends the wait without a read; only while it may have been missed
        (see ``jobevents``) is the job's status read now and then, alone, in a fresh session
        that sees the workers' commits.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            interval = self._events.poll_interval(self._since)
            if self._ended.wait(min(interval, left)):
                return
            if time.monotonic() < deadline and self._ended_by_status():
                return

    def _ended_by_status(self) -> bool:
        session = services().sessions()
        try:
            status = queries.job_status(session, self.job_id)
        finally:
            session.close()
        return status is None or JobStatus(status).terminal


def wait_for_job(job_id: str, timeout: float) -> Job | None:
    """The job once it has ended, or as it is after ``timeout`` s (detached from any session).

    Synchronous answers (ElevenLabs, OpenAI) wait here while the pipeline runs: the job is
    read when the wait starts and when it ends, not in between (:class:`EndWatch`).
    """

    def read() -> Job | None:
        session = services().sessions()
        try:
            job = queries.get_job(session, job_id)
            if job is not None:
                session.expunge(job)
            return job
        finally:
            session.close()

    with EndWatch(job_id) as watch:
        job = read()
        if job is None or JobStatus(job.status).terminal:
            return job
        watch.wait(timeout)
    return read()


def job_failure(job: Job) -> ApiError:
    """A failed or cancelled job as the error a synchronous answer reports (400, its code)."""
    return ApiError(400, job.error_code or job.status, job.error or f"the job {job.status}")


def delete_job(job: Job) -> None:
    """Remove every trace of a terminal job: its rows, then its stored objects.

    In that order: a stage still finishing (a cancelled job's prepare, say) checks for the
    row after writing and removes its own outputs when the row is gone; deleting the objects
    first would let it write after them into a job that is about to vanish.
    """
    session = db()
    queries.delete_job(session, job.id)
    session.commit()
    services().store.delete_prefix(keys.job_prefix(job.id))


def cancel_job(job_id: str) -> None:
    """Cancel an unfinished job (its client went away) and revoke its tasks."""
    session = services().sessions()
    try:
        task_ids = queries.cancel_job(session, job_id)
        session.commit()
    finally:
        session.close()
    if task_ids:
        services().celery.control.revoke(task_ids)
        job_ended(job_id)


def job_ended(job_id: str) -> None:
    """A job the API ended (cancelled): what a worker does when it ends one."""
    lifecycle.job_ended(services().celery, services().settings, services().store, job_id)
