"""ElevenLabs-compatible batch speech-to-text: ``/v1/speech-to-text``.

A client of the official ElevenLabs SDKs switches to Dalston by changing the base URL.
``POST /v1/speech-to-text`` runs the same pipeline as the native API and answers
synchronously: it waits (``DALSTON_SYNC_TIMEOUT``, 220 s by default — under the Python
SDK's 240 s timeout) for the job and returns the ElevenLabs transcript. A job still running
then is answered ``202`` with the webhook-acknowledgement shape, whose ``message`` says to
fetch it from ``GET /v1/speech-to-text/transcripts/{transcription_id}`` (both SDKs parse that
shape); ``webhook=true`` answers at once and POSTs the result later (``webhook.py``).

Errors have ElevenLabs' shape, ``{"detail": {"type", "code", "message", "status",
"request_id", "param"}}`` (``errors.py``), with statuses the SDKs do not retry (the Python
SDK's retry drops every form field but the file, api-compat.md §3.3). The API key is checked
for every route by ``dalston.auth``.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, g, jsonify, request

from dalston.api import db, services, submission
from dalston.auth import current_tenant
from dalston.db import queries
from dalston.db.models import JobStatus
from dalston.elevenlabs import render, schemas, webhook
from dalston.elevenlabs.errors import error_body
from dalston.errors import ApiError
from dalston.webhooks import store

bp = Blueprint("elevenlabs", __name__, url_prefix="/v1/speech-to-text")


@bp.before_request
def _request_id():
    g.request_id = str(uuid.uuid4())


@bp.post("")
def convert():
    """Transcribe one file (``file``, ``cloud_storage_url`` or ``source_url``)."""
    settings = services().settings
    has_file = "file" in request.files
    req = schemas.parse(
        request.form,
        request.args,
        has_file=has_file,
        models_spec=settings.elevenlabs_models,
        default_model=settings.default_model,
    )
    webhook_id = req.response.get("webhook_id")
    if webhook_id and store.get_endpoint(db(), webhook_id, store.request_tenant()) is None:
        raise ApiError(
            400,
            "webhook_not_found",
            f"webhook_id {webhook_id!r} names no webhook endpoint (POST /v1/webhooks creates one)",
            "webhook_id",
        )
    if req.webhook and not webhook_id and not settings.webhook_url:
        raise ApiError(
            400,
            "webhook_not_configured",
            "webhook=true needs a webhook receiver: set DALSTON_WEBHOOK_URL (and "
            "DALSTON_WEBHOOK_SECRET to sign the deliveries)",
            "webhook",
        )
    options = dict(req.response, enable_logging=req.enable_logging)
    job = submission.submit_job(
        req.options,
        reply=options,
        notify_task=webhook.TASK_NAME if req.webhook else None,
        upload=request.files.get("file") if has_file else None,
        audio_url=req.source_url,
        url_field="source_url" if request.form.get("source_url") else "cloud_storage_url",
        raw_pcm=req.raw_pcm,
        max_channels=schemas.MAX_CHANNELS,
    )
    if req.webhook:
        return jsonify(
            render.webhook_ack(
                job.id, job.id, "Request accepted; the transcript will be sent to your webhook."
            )
        )
    job = submission.wait_for_job(job.id, settings.sync_timeout)
    if job is None:
        raise ApiError(404, "transcript_not_found", "the job was deleted while it ran")
    if not JobStatus(job.status).terminal:
        return (
            jsonify(
                render.webhook_ack(
                    job.id,
                    job.id,
                    f"The transcription is still running after {settings.sync_timeout:.0f} s. "
                    f"Fetch it with GET /v1/speech-to-text/transcripts/{job.id}, or send "
                    "webhook=true for long files.",
                )
            ),
            202,
        )
    if job.status != JobStatus.COMPLETED.value:
        raise submission.job_failure(job)
    body = render.render(job.result or {}, options, job.id)
    if not req.enable_logging:
        submission.delete_job(job)
    return jsonify(body)


def _job_or_404(transcription_id: str):
    job = queries.find_job(db(), transcription_id, current_tenant())
    if job is None:  # unknown, or another tenant's: the same answer
        raise ApiError(404, "transcript_not_found", f"no transcript with id {transcription_id!r}")
    return job


@bp.get("/transcripts/<transcription_id>")
def get_transcript(transcription_id: str):
    """A finished transcript; 404 with ``Retry-After`` while it is still being made."""
    job = _job_or_404(transcription_id)
    if not JobStatus(job.status).terminal:
        body = error_body(
            404,
            "transcript_not_ready",
            f"the transcript is still being made ({job.status}); try again shortly",
        )
        return jsonify(body), 404, {"Retry-After": "2"}
    if job.status != JobStatus.COMPLETED.value:
        raise submission.job_failure(job)
    options = job.reply or {"granularity": "word"}
    return jsonify(render.render(job.result or {}, options, job.id))


@bp.delete("/transcripts/<transcription_id>")
def delete_transcript(transcription_id: str):
    """Delete a transcript and everything stored for it (an unfinished job is cancelled)."""
    job = _job_or_404(transcription_id)
    if not JobStatus(job.status).terminal:
        submission.cancel_job(job.id)
    submission.delete_job(job)
    return "", 204
