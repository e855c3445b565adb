"""The native webhook tasks, on the ``webhooks`` queue (``python -m workers.webhooks``).

``dalston.webhooks.notify(job_id)`` is a native job's ``notify_task``: the worker (or the
API, for a cancel) that ends the job sends it. It finds where the event goes (the job's
own ``webhook_url``, and the tenant's registered endpoints that subscribe to it) and sends
one ``dalston.webhooks.deliver(job_id, target, attempt)`` per target, so a slow receiver
holds up no other. Each delivery re-reads the job and the endpoint's secret (a rotation
applies to the next attempt), signs the Standard Webhooks way and makes one attempt
(``delivery.attempt``: log, backoff, the next attempt).
"""

from __future__ import annotations

import json
import time

from celery import shared_task
from celery.utils.log import get_task_logger

from dalston.config import get_settings
from dalston.db import queries
from dalston.db.session import session_scope
from dalston.webhooks import delivery, events, signing, store

log = get_task_logger(__name__)


@shared_task(name=events.NOTIFY_TASK)
def notify(job_id: str) -> dict:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        job = queries.get_job(session, job_id)
        event = events.BY_STATUS.get(job.status) if job is not None else None
        if event is None:
            return {"job_id": job_id, "targets": 0}
        targets = [
            {
                "endpoint_id": e.id,
                "url": e.url,
                "event": event,
                "message_id": events.message_id(job_id, e.id, event),
                "guarded": True,
            }
            for e in store.targets_for_job(session, job, event)
        ]
    for target in targets:
        deliver.apply_async((job_id, target, 1))
    return {"job_id": job_id, "targets": len(targets)}


@shared_task(bind=True, name=events.DELIVER_TASK)
def deliver(self, job_id: str, target: dict, attempt: int = 1) -> dict:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        job = queries.get_job(session, job_id)
        endpoint = store.endpoint_for_delivery(session, target["endpoint_id"])
        if job is None or endpoint is None or not endpoint.enabled:
            return {"job_id": job_id, "outcome": "dropped"}
        body = json.dumps(events.payload(job, target["event"])).encode()
        secrets = store.signing_secrets(endpoint)
    headers = signing.headers(secrets, target["message_id"], int(time.time()), body)
    outcome = delivery.attempt(
        self,
        settings,
        job_id=job_id,
        target=target,
        number=attempt,
        body=body,
        headers=headers,
        style="standard",
    )
    return {"job_id": job_id, "attempt": attempt, "outcome": outcome}
