"""Webhook endpoints and the delivery log, as small queries that take a Session.

Every query a request makes is scoped by a tenant (``dalston.auth.current_tenant()``;
``None`` means every tenant: an admin key, or a server without per-tenant keys), and an
endpoint of another tenant is answered exactly like an unknown one.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dalston.auth import current_tenant
from dalston.db.models import Job, WebhookDelivery, WebhookEndpoint, utcnow
from dalston.webhooks import events, signing

#: How long the secret before a rotation keeps signing (both signatures are sent).
ROTATION_GRACE = dt.timedelta(hours=24)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back; they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def job_tenant(job: Job) -> str | None:
    """The tenant a job belongs to."""
    return job.tenant_id


def request_tenant() -> str | None:
    """The tenant whose endpoints this request may see (``dalston.auth.current_tenant()``)."""
    return current_tenant()


def _tenant_filter(query, tenant: str | None):
    return query if tenant is None else query.where(WebhookEndpoint.tenant_id == tenant)


def create_endpoint(
    session: Session,
    *,
    url: str,
    tenant_id: str | None,
    events_: list[str] | None = None,
    description: str | None = None,
    job_id: str | None = None,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        url=url,
        tenant_id=tenant_id,
        job_id=job_id,
        secret=signing.new_secret(),
        events=list(events_ or events.EVENTS),
        description=description,
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def list_endpoints(session: Session, tenant: str | None) -> list[WebhookEndpoint]:
    """The registered endpoints (not jobs' own URLs) the caller may see, oldest first."""
    query = sa.select(WebhookEndpoint).where(WebhookEndpoint.job_id.is_(None))
    query = _tenant_filter(query, tenant).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return list(session.scalars(query))


def get_endpoint(session: Session, endpoint_id: str, tenant: str | None) -> WebhookEndpoint | None:
    """A registered endpoint of the caller's tenant; None for unknown and foreign ids alike."""
    query = sa.select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.job_id.is_(None)
    )
    return session.scalar(_tenant_filter(query, tenant))


def rotate_secret(endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> str:
    """A new secret; the old one keeps signing for :data:`ROTATION_GRACE`."""
    now = now or utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_GRACE
    endpoint.secret = signing.new_secret()
    return endpoint.secret


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> list[str]:
    """The secrets a delivery is signed with: the current one, and the previous in its grace."""
    now = now or utcnow()
    found = [endpoint.secret]
    expires = _aware(endpoint.previous_secret_expires_at)
    if endpoint.previous_secret and expires is not None and expires > now:
        found.append(endpoint.previous_secret)
    return found


def targets_for_job(session: Session, job: Job, event: str) -> list[WebhookEndpoint]:
    """Where a native job's ``event`` goes: its own ``webhook_url``, and every enabled
    registered endpoint of its tenant that subscribes to the event."""
    tenant = job_tenant(job)
    registered = sa.and_(
        WebhookEndpoint.job_id.is_(None),
        (
            WebhookEndpoint.tenant_id.is_(None)
            if tenant is None
            else WebhookEndpoint.tenant_id == tenant
        ),
    )
    query = sa.select(WebhookEndpoint).where(
        WebhookEndpoint.enabled.is_(True),
        sa.or_(WebhookEndpoint.job_id == job.id, registered),
    )
    return [e for e in session.scalars(query) if event in (e.events or [])]


def endpoint_for_delivery(session: Session, endpoint_id: str) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def record_attempt(session: Session, **fields) -> WebhookDelivery:
    row = WebhookDelivery(**fields)
    session.add(row)
    session.flush()
    return row


def deliveries(session: Session, job_id: str) -> list[WebhookDelivery]:
    """A job's delivery log, in the order the attempts were made."""
    return list(
        session.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.job_id == job_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
    )


def delivery_view(row: WebhookDelivery) -> dict:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "event": row.event,
        "endpoint_id": row.endpoint_id,
        "url": row.url,
        "attempt": row.attempt,
        "outcome": row.outcome,
        "status_code": row.status_code,
        "error": row.error,
        "duration_ms": row.duration_ms,
        "next_retry_at": _iso(row.next_retry_at),
        "created_at": _iso(row.created_at),
    }


def endpoint_view(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    view = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events or []),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
    }
    if with_secret:
        view["secret"] = endpoint.secret
    return view


def _iso(value: dt.datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat() if value is not None else None
