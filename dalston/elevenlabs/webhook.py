"""Webhooks: tell the client a job has finished (ElevenLabs ``webhook=true``).

When a job that asked for a webhook ends, the worker that ended it queues
``dalston.webhook`` (on the cheap ``merge`` queue). The task renders the ElevenLabs event
and POSTs it to ``DALSTON_WEBHOOK_URL``, signed the way ElevenLabs signs its webhooks, so
``client.webhooks.construct_event(body, signature, secret)`` of the official SDKs accepts it:

    ElevenLabs-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256(secret, "<t>.<body>")>

The body is ``{"type": "speech_to_text_transcription", "event_timestamp", "data":
{"request_id", "transcription_id", "webhook_metadata", "transcription"}}``; a failed job
sends ``"error": {"code", "message"}`` in place of ``transcription`` (ElevenLabs documents no
failure event; a client should not wait forever). Delivery is retried with backoff on
connection errors and on 408, 429 and 5xx answers. With ``enable_logging=false`` the job is
deleted once the webhook is delivered (or given up).

The task keeps its name ``dalston.webhook`` (queued by name from ``notify_task`` on the job
row); ``celeryconfig.imports`` names this module so every worker registers it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests
from celery import shared_task
from celery.utils.log import get_task_logger

from dalston.config import get_settings
from dalston.db import queries
from dalston.db.session import session_scope
from dalston.elevenlabs import render
from dalston.storage import keys, make_store

log = get_task_logger(__name__)

EVENT_TYPE = "speech_to_text_transcription"
RETRY_STATUSES = (408, 429)


class DeliveryFailed(Exception):
    """The receiver answered with a status worth retrying."""


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v0={mac.hexdigest()}"


TASK_NAME = "dalston.webhook"


def event(job, options: dict) -> dict:
    data = {
        "request_id": job.id,
        "transcription_id": job.id,
        "webhook_metadata": options.get("webhook_metadata"),
    }
    if job.status == "completed":
        data["transcription"] = render.render(job.result or {}, options, job.id)
    else:
        data["error"] = {"code": job.error_code or job.status, "message": job.error or job.status}
    return {"type": EVENT_TYPE, "event_timestamp": int(time.time()), "data": data}


@shared_task(
    bind=True,
    name=TASK_NAME,
    autoretry_for=(DeliveryFailed, ConnectionError, TimeoutError, OSError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def deliver(self, job_id: str):
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        job = queries.get_job(session, job_id)
        if job is None:
            return {"job_id": job_id, "delivered": False, "reason": "job deleted"}
        options = job.reply or {}
        body = json.dumps(event(job, options)).encode()
    if not settings.webhook_url:
        log.warning("job %s asked for a webhook but DALSTON_WEBHOOK_URL is not set", job_id)
        return {"job_id": job_id, "delivered": False, "reason": "no webhook configured"}
    headers = {"Content-Type": "application/json"}
    if settings.webhook_secret:
        headers["ElevenLabs-Signature"] = signature(settings.webhook_secret, body)
    try:
        resp = requests.post(settings.webhook_url, data=body, headers=headers, timeout=30)
    except requests.RequestException as exc:
        raise DeliveryFailed(str(exc)) from exc
    if resp.status_code in RETRY_STATUSES or resp.status_code >= 500:
        raise DeliveryFailed(f"the webhook answered {resp.status_code}")
    if options.get("enable_logging") is False:
        make_store(settings).delete_prefix(keys.job_prefix(job_id))
        with session_scope(settings.database_url) as session:
            queries.delete_job(session, job_id)
    return {"job_id": job_id, "delivered": True, "status": resp.status_code}
