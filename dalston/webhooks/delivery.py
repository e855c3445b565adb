"""One delivery attempt: POST, write the attempt to the log, schedule the next one.

Shared by the native (``tasks.py``) and ElevenLabs (``dalston.elevenlabs.webhook``)
delivery tasks, which differ only in where the event goes, its body and its signature.
A 2xx answer delivers. Connection errors, timeouts, 408, 425, 429 and 5xx are retried after
``DALSTON_WEBHOOK_RETRY_BASE_SECONDS × 2^(attempt-1)`` (at most
``DALSTON_WEBHOOK_RETRY_MAX_SECONDS``), up to ``DALSTON_WEBHOOK_MAX_ATTEMPTS`` attempts in
all; the next attempt is the same task sent again with a countdown. Any other answer fails
at once (a 4xx will not change by itself), and an address the guard refuses is ``refused``.
Each attempt is one ``webhook_deliveries`` row: attempt number, outcome, status code,
error, duration and when the next attempt is due.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import requests
import sqlalchemy.exc

from dalston import metrics
from dalston.config import Settings
from dalston.db.models import utcnow
from dalston.db.session import session_scope
from dalston.webhooks import guard, store

log = logging.getLogger(__name__)

RETRY_STATUSES = (408, 425, 429)
#: Outcomes after which no attempt follows.
FINAL = ("delivered", "failed", "refused")


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds to wait after attempt number ``attempt`` failed."""
    return min(settings.webhook_retry_max, settings.webhook_retry_base * 2 ** (attempt - 1))


def attempt(
    task,
    settings: Settings,
    *,
    job_id: str,
    target: dict,
    number: int,
    body: bytes,
    headers: dict[str, str],
    style: str,
) -> str:
    """Make attempt ``number`` of ``target`` (``url``, ``event``, ``message_id``,
    ``endpoint_id``, ``guarded``); returns its outcome. A retry is sent as
    ``task.apply_async((job_id, target, number + 1), countdown=…)``."""
    started = time.monotonic()
    status_code = error = None
    try:
        answer = guard.post(
            target["url"],
            body,
            headers,
            timeout=settings.webhook_timeout,
            allow_private=settings.allow_private_urls,
            allow_hosts=settings.webhook_allow_hosts,
            guarded=target.get("guarded", True),
        )
        status_code = answer.status_code
        if 200 <= status_code < 300:
            outcome = "delivered"
        elif status_code in RETRY_STATUSES or status_code >= 500:
            outcome, error = "retrying", f"the receiver answered {status_code}"
        else:
            outcome, error = "failed", f"the receiver answered {status_code}"
    except guard.Refused as exc:
        outcome, error = "refused", str(exc)
    except requests.RequestException as exc:
        outcome, error = "retrying", f"{exc.__class__.__name__}: {exc}"[:2000]
    if outcome == "retrying" and number >= settings.webhook_max_attempts:
        outcome = "failed"
        error = f"{error}; gave up after {number} attempts"
    delay = backoff(settings, number) if outcome == "retrying" else None
    try:
        with session_scope(settings.database_url) as session:
            store.record_attempt(
                session,
                job_id=job_id,
                endpoint_id=target.get("endpoint_id"),
                message_id=target["message_id"],
                event=target["event"],
                url=target["url"],
                attempt=number,
                outcome=outcome,
                status_code=status_code,
                error=error,
                duration_ms=int((time.monotonic() - started) * 1000),
                next_retry_at=utcnow() + dt.timedelta(seconds=delay) if delay else None,
            )
    except sqlalchemy.exc.IntegrityError:  # the job (or endpoint) was deleted meanwhile
        log.info("job %s was deleted; its webhook is dropped", job_id)
        return "dropped"
    metrics.webhook_attempt(style, outcome)
    log.info(
        "webhook %s of job %s to %s: attempt %d %s%s",
        target["event"],
        job_id,
        target["url"],
        number,
        outcome,
        f" ({error})" if error else "",
    )
    if delay is not None:
        task.apply_async((job_id, target, number + 1), countdown=delay)
    return outcome
