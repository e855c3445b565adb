"""Webhooks: tell the client a job has finished (ElevenLabs ``webhook=true``).

When a job that asked for a webhook ends, the worker that ended it queues
``dalston.webhook`` (its ``notify_task``; on the ``webhooks`` queue). The task renders the
ElevenLabs event and POSTs it, signed the way ElevenLabs signs its webhooks, so
``client.webhooks.construct_event(body, signature, secret)`` of the official SDKs accepts it:

    ElevenLabs-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256(secret, "<t>.<body>")>

Where it goes: the registered endpoint (``/v1/webhooks``) the request's ``webhook_id``
names, signed with that endpoint's secret and behind the private-address guard; without a
``webhook_id``, the server's own ``DALSTON_WEBHOOK_URL``, signed with
``DALSTON_WEBHOOK_SECRET`` (an operator's choice, so not guarded).

The body is ``{"type": "speech_to_text_transcription", "event_timestamp", "data":
{"request_id", "transcription_id", "webhook_metadata", "transcription"}}``; a failed job
sends ``"error": {"code", "message"}`` in place of ``transcription`` (ElevenLabs documents no
failure event; a client should not wait forever). Attempts, retries with backoff and the
delivery log are ``dalston.webhooks.delivery``'s, as for native webhooks (the log is
``GET /v1/audio/transcriptions/{id}/webhooks``). With ``enable_logging=false`` the job is
deleted once the webhook is delivered (or given up).

The task keeps its name ``dalston.webhook`` (queued by name from ``notify_task`` on the job
row); ``celeryconfig.imports`` names this module so every worker registers it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from celery import shared_task
from celery.utils.log import get_task_logger

from dalston.config import get_settings
from dalston.db import queries
from dalston.db.session import session_scope
from dalston.elevenlabs import render
from dalston.storage import keys, make_store
from dalston.webhooks import delivery, events, store

log = get_task_logger(__name__)

EVENT_TYPE = "speech_to_text_transcription"
TASK_NAME = "dalston.webhook"


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v0={mac.hexdigest()}"


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


def _target(session, job, settings) -> dict | None:
    """Where the job's event goes: its ``webhook_id``'s endpoint, else the server's URL."""
    webhook_id = (job.reply or {}).get("webhook_id")
    event_name = events.BY_STATUS.get(job.status, job.status)
    if webhook_id:
        endpoint = store.get_endpoint(session, webhook_id, store.job_tenant(job))
        if endpoint is None or not endpoint.enabled:
            log.warning("job %s: webhook_id %s names no enabled endpoint", job.id, webhook_id)
            return None
        return {
            "endpoint_id": endpoint.id,
            "url": endpoint.url,
            "event": event_name,
            "message_id": events.message_id(job.id, endpoint.id, event_name),
            "guarded": True,
        }
    if not settings.webhook_url:
        log.warning("job %s asked for a webhook but DALSTON_WEBHOOK_URL is not set", job.id)
        return None
    return {
        "endpoint_id": None,
        "url": settings.webhook_url,
        "event": event_name,
        "message_id": events.message_id(job.id, None, event_name),
        "guarded": False,
    }


@shared_task(bind=True, name=TASK_NAME)
def deliver(self, job_id: str, target: dict | None = None, attempt: int = 1):
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        job = queries.get_job(session, job_id)
        if job is None:
            return {"job_id": job_id, "delivered": False, "reason": "job deleted"}
        target = target or _target(session, job, settings)
        if target is None:
            return {
                "job_id": job_id,
                "delivered": False,
                "reason": "no webhook configured",
            }
        options = job.reply or {}
        body = json.dumps(event(job, options)).encode()
        if target["endpoint_id"]:
            endpoint = store.endpoint_for_delivery(session, target["endpoint_id"])
            secret = endpoint.secret if endpoint is not None else None
        else:
            secret = settings.webhook_secret
    headers = {"ElevenLabs-Signature": signature(secret, body)} if secret else {}
    outcome = delivery.attempt(
        self,
        settings,
        job_id=job_id,
        target=target,
        number=attempt,
        body=body,
        headers=headers,
        style="elevenlabs",
    )
    if outcome in delivery.FINAL and options.get("enable_logging") is False:
        make_store(settings).delete_prefix(keys.job_prefix(job_id))
        with session_scope(settings.database_url) as session:
            queries.delete_job(session, job_id)
    return {"job_id": job_id, "delivered": outcome == "delivered", "outcome": outcome}
