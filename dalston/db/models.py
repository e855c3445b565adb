"""Job and stage rows: the job's truth. Celery results are only plumbing.

A ``Job`` is one transcription request. A ``StageRun`` is one stage task of it — one row
per ``(job_id, stage, part)``, where ``part`` is the chunk index of a ``transcribe`` task
(0 for the other stages). The unique key makes a redelivered task update its own row
instead of adding one, and its ``attempts`` counter lets a task that keeps killing its
worker be failed instead of retried forever.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalston.db.base import Base


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class StageStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4())
    )
    status: Mapped[str] = mapped_column(sa.String(16), default=JobStatus.PENDING.value, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, index=True
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: The typed job plan (``dalston.options.JobOptions.to_dict()``); the pipeline reads it.
    options: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: How the API family that took the request wants its answer (its own format options,
    #: webhook metadata, …); read only by that family's package, never by the pipeline.
    reply: Mapped[dict | None] = mapped_column(sa.JSON)
    #: A Celery task name sent ``(job_id,)`` once the job ends (completed, failed or
    #: cancelled): how a family's webhook hears of it without the pipeline knowing families.
    notify_task: Mapped[str | None] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(255))
    source_name: Mapped[str | None] = mapped_column(sa.String(255))
    source_url: Mapped[str | None] = mapped_column(sa.Text)
    audio_duration: Mapped[float | None] = mapped_column(sa.Float)
    language_code: Mapped[str | None] = mapped_column(sa.String(16))
    current_stage: Mapped[str | None] = mapped_column(sa.String(32))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.Text)
    root_task_id: Mapped[str | None] = mapped_column(sa.String(64))
    #: The final transcript (contracts.Transcript), written by merge.
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    #: The tenant of the key that created the job (``dalston.auth.current_tenant()``); NULL
    #: for jobs made without one (an admin key, an open server): only admin keys see those.
    tenant_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    #: The API family that took the request (native, elevenlabs, openai): metrics, webhooks.
    family: Mapped[str | None] = mapped_column(sa.String(16))
    #: Days to keep the job's audio and artifacts once it ends (-1: keep; 0: purge at once).
    retention_days: Mapped[int | None] = mapped_column(sa.Integer)
    #: When the retention purge removes the job's stored objects (set when the job ends).
    purge_after: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    #: When they were removed; the row, its metadata and its transcript stay.
    purged_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    stages: Mapped[list["StageRun"]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(StageRun.created_at, StageRun.part)",
    )


class StageRun(Base):
    __tablename__ = "stage_runs"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "stage", "part", name="uq_stage_runs_job_stage_part"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(sa.String(32))
    part: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[str] = mapped_column(sa.String(16), default=StageStatus.PENDING.value)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(sa.String(255))
    task_id: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    #: Fraction (0..1) of this stage's work done, reported while it runs.
    progress: Mapped[float] = mapped_column(sa.Float, default=0.0)
    #: Seconds of audio this stage covers (weights chunk progress).
    audio_seconds: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)
    #: What the stage produced, for the stages that read it (a chunk's transcript): written
    #: by the statement that marks the row done, so a done row always has it.
    output: Mapped[dict | None] = mapped_column(sa.JSON, deferred=True)

    job: Mapped[Job] = relationship(back_populates="stages")


class ApiKey(Base):
    """An API key (``dalston.keys``): its public id, and an HMAC of its secret, never the key.

    The key a caller holds is ``dsk_<id>_<secret>``; ``secret_hash`` is
    HMAC-SHA256(``salt`` [+ ``DALSTON_KEY_HASH_SECRET``], secret). A revoked key keeps its
    row (``revoked_at``), so listings show what existed.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    tenant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: A subset of ``dalston.keys.SCOPES``.
    scopes: Mapped[list] = mapped_column(sa.JSON, default=list)
    salt: Mapped[str] = mapped_column(sa.String(64))
    secret_hash: Mapped[str] = mapped_column(sa.String(128))
    #: Requests per minute for this key (NULL: ``DALSTON_RATE_LIMIT``).
    rate_limit: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class WebhookEndpoint(Base):
    """Where a tenant's job events are POSTed, with the secret that signs them.

    A registered endpoint (``/v1/webhooks``) has no ``job_id`` and receives the events it
    subscribes to for every native job of its tenant. A job's own ``webhook_url`` is stored
    as an endpoint bound to that job (``job_id`` set; deleted with it).
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4())
    )
    tenant_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    job_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.Text)
    #: ``whsec_<base64>`` (Standard Webhooks); HMAC needs it in the clear.
    secret: Mapped[str] = mapped_column(sa.String(128))
    #: The secret before the last rotation, still signing until ``previous_secret_expires_at``.
    previous_secret: Mapped[str | None] = mapped_column(sa.String(128))
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(
        sa.DateTime(timezone=True)
    )
    events: Mapped[list] = mapped_column(sa.JSON, default=list)
    description: Mapped[str | None] = mapped_column(sa.String(255))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class WebhookDelivery(Base):
    """One attempt to deliver one event of a job to one URL: the job's delivery log."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="SET NULL")
    )
    #: The Standard Webhooks ``webhook-id``: the same for every attempt of one event.
    message_id: Mapped[str] = mapped_column(sa.String(64))
    event: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str] = mapped_column(sa.Text)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    #: delivered, retrying, failed (given up) or refused (the address guard said no).
    outcome: Mapped[str] = mapped_column(sa.String(16))
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int | None] = mapped_column(sa.Integer)
    next_retry_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class RealtimeSessionRecord(Base):
    """One realtime (WebSocket) session: who opened it, how it went, what it said.

    Written by the API process serving the session (``dalston.realtime.retention``): a row
    when it starts, the totals, transcript and stored objects when it ends. With retention
    on, ``audio_key`` and ``transcript_key`` name the session's audio (WAV, 16 kHz mono) and
    transcript (``contracts.Transcript`` JSON) in the artifact store. ``enhance_job_id`` is
    the batch job started on that audio with ``enhance=true``.
    """

    __tablename__ = "realtime_sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    #: active → completed | failed (closed with an error) | deleting (objects going)
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    protocol: Mapped[str] = mapped_column(sa.String(16))
    model: Mapped[str | None] = mapped_column(sa.String(255))
    worker_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, index=True
    )
    ended_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    audio_seconds: Mapped[float | None] = mapped_column(sa.Float)
    speech_seconds: Mapped[float | None] = mapped_column(sa.Float)
    language_code: Mapped[str | None] = mapped_column(sa.String(16))
    close_code: Mapped[int | None] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.Text)
    audio_key: Mapped[str | None] = mapped_column(sa.String(512))
    transcript_key: Mapped[str | None] = mapped_column(sa.String(512))
    #: The committed text (the whole transcript is at ``transcript_key``).
    text: Mapped[str | None] = mapped_column(sa.Text)
    enhance_job_id: Mapped[str | None] = mapped_column(sa.String(36))
