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

    job: Mapped[Job] = relationship(back_populates="stages")


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
