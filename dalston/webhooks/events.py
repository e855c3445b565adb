"""The native webhook events and their payloads.

A native job's end is one event, named by how it ended:

* ``transcription.completed`` — ``data`` is the job summary and its ``text``;
* ``transcription.failed`` — ``data.error`` is ``{code, message}``;
* ``transcription.cancelled``.

The body follows Standard Webhooks' recommended shape, ``{"type", "timestamp", "data"}``;
``data`` holds what ``GET /v1/audio/transcriptions/{id}`` shows of the job (not its
segments and words: fetch the job for those). The timestamp is the job's end, so every
attempt of one event sends the same body.
"""

from __future__ import annotations

import uuid

from dalston.db.models import Job

EVENTS = ("transcription.completed", "transcription.failed", "transcription.cancelled")
#: The event a terminal job status is.
BY_STATUS = {
    "completed": "transcription.completed",
    "failed": "transcription.failed",
    "cancelled": "transcription.cancelled",
}
#: The task a native job names as its ``notify_task`` (``dalston.webhooks.tasks``).
NOTIFY_TASK = "dalston.webhooks.notify"
DELIVER_TASK = "dalston.webhooks.deliver"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def message_id(job_id: str, endpoint_id: str | None, event: str) -> str:
    """The ``webhook-id`` of an event: stable, so a receiver can drop a duplicate."""
    return "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{job_id}/{endpoint_id}/{event}").hex


def payload(job: Job, event: str) -> dict:
    data = {
        "id": job.id,
        "status": job.status,
        "created_at": _iso(job.created_at),
        "completed_at": _iso(job.completed_at),
        "model": job.model,
        "audio_duration_seconds": job.audio_duration,
        "language_code": job.language_code,
        "error": (
            {"code": job.error_code or job.status, "message": job.error or job.status}
            if job.status == "failed"
            else None
        ),
    }
    if job.status == "completed":
        data["text"] = (job.result or {}).get("text")
    return {"type": event, "timestamp": _iso(job.completed_at), "data": data}
