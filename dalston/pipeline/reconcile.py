"""The reconciler: PostgreSQL's record of stages says what must still run; send what is lost.

The broker is not the record of a job: the documented deployment runs Redis without
persistence, so a Redis restart loses every queued message and the unacknowledged ones.
The stage rows are the record (merge, too, is sent from them: the join in
``dalston.pipeline.builder``). A pass (the ``dalston.reconcile`` beat task every
``DALSTON_RECONCILE_INTERVAL`` seconds, and embedded mode at start-up) reads them and
resends each stage that is *ready* (everything before it is done), not done, and *lost*:

* its message is in no queue and not held by any worker (the broker's snapshot holds no
  message of that task for that job and part) for longer than ``DALSTON_RECONCILE_GRACE``
  seconds since it became ready or started; or
* it has been running longer than its hard time limit plus the grace (a task that hangs
  where Celery cannot kill it).

Lost parts before merge are resent as a group (a lost transcription with its align); the
last of them to finish sends merge, as the join does for any stage. A job whose stages are
all done while merge is lost (the join's send failed, or the broker lost it) gets merge
alone. Every resend may duplicate a task that was not lost after all: stages are
idempotent (a finished stage's second delivery is skipped by ``begin_stage``, merge
completes the job once), so a duplicate costs time, never a second transcript.

:func:`plan` is pure (records, snapshot, clock in; resends out), so tests check the rules
without a broker; :func:`run` gathers the inputs, holds a PostgreSQL advisory lock so two
reconcilers never race, and sends.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
from typing import Iterable

import sqlalchemy as sa
from celery import Celery, chain, group
from celery.canvas import Signature
from sqlalchemy.orm import Session

from dalston import metrics
from dalston.db import queries
from dalston.db.models import Job, StageRun, StageStatus, utcnow
from dalston.pipeline import builder
from dalston.pipeline.stages import BY_NAME, Stage, time_limits

log = logging.getLogger(__name__)

#: The PostgreSQL advisory lock a pass holds ("dalston" reconciler), so passes never overlap.
LOCK_KEY = 0x64616C73
#: ``(stage, job_id, part)`` of every message the broker holds: queued or delivered unacked.
Snapshot = frozenset
UNFINISHED = (StageStatus.PENDING.value, StageStatus.RUNNING.value)
HEADER = (Stage.TRANSCRIBE.value, Stage.ALIGN.value, Stage.DIARIZE.value)


@dataclasses.dataclass(frozen=True)
class Row:
    stage: str
    part: int
    status: str
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Resend:
    """What a pass sends for one job: ``kind`` is prepare, parts (the lost ``parts``),
    whisperx (whisperx_full) or merge."""

    job_id: str
    kind: str
    parts: tuple[tuple[str, int], ...] = ()
    reason: str = ""


def _done(row: Row | None) -> bool:
    return row is not None and row.status == StageStatus.COMPLETED.value


def _lost(
    row: Row,
    job_id: str,
    ready_at: dt.datetime | None,
    snapshot: Snapshot | None,
    now: dt.datetime,
    grace: float,
    limits: tuple,
) -> str | None:
    """Why ``row`` (ready since ``ready_at``) counts as lost, or None."""
    if row.status not in UNFINISHED:
        return None
    since = row.started_at if row.status == StageStatus.RUNNING.value else ready_at
    since = since or row.created_at
    age = (now - since).total_seconds() if since else float("inf")
    if row.status == StageStatus.RUNNING.value:
        hard = time_limits(BY_NAME[row.stage], limits)[1]
        if age > hard + grace:
            return f"{row.stage}[{row.part}] running {age:.0f} s, past its {hard:.0f} s limit"
    if snapshot is None:
        return None
    if (row.stage, job_id, row.part) in snapshot or age <= grace:
        return None
    return f"{row.stage}[{row.part}] {row.status} with no message for {age:.0f} s"


def plan_job(
    job_id: str,
    created_at: dt.datetime,
    rows: Iterable[Row],
    snapshot: Snapshot | None,
    now: dt.datetime,
    grace: float,
    limits: tuple = (),
) -> Resend | None:
    """What one active job needs resent, from its stage rows; None when nothing is lost.

    ``snapshot`` None means the broker cannot be inspected: then only deadlines count.
    """
    by_key = {(r.stage, r.part): r for r in rows}

    def lost(row: Row | None, ready_at) -> str | None:
        return None if row is None else _lost(row, job_id, ready_at, snapshot, now, grace, limits)

    prepare = by_key.get((Stage.PREPARE.value, 0))
    if prepare is None:
        prepare = Row(Stage.PREPARE.value, 0, StageStatus.PENDING.value, created_at, None, None)
    if not _done(prepare):
        why = lost(prepare, created_at)
        return Resend(job_id, "prepare", reason=why) if why else None
    merge = by_key.get((Stage.MERGE.value, 0))
    whole = by_key.get((Stage.WHISPERX_FULL.value, 0))
    if whole is not None:
        if not _done(whole):
            why = lost(whole, prepare.completed_at)
            return Resend(job_id, "whisperx", reason=why) if why else None
        why = lost(merge, whole.completed_at)
        return Resend(job_id, "merge", reason=why) if why else None
    header = [r for r in by_key.values() if r.stage in HEADER]
    parts: list[tuple[str, int]] = []
    reasons: list[str] = []
    for row in header:
        if row.stage == Stage.ALIGN.value:
            transcribed = by_key.get((Stage.TRANSCRIBE.value, row.part))
            if not _done(transcribed):
                continue  # not ready: it is sent after its transcription (a chain)
            ready_at = transcribed.completed_at
        else:
            ready_at = prepare.completed_at
        why = lost(row, ready_at)
        if why:
            parts.append((row.stage, row.part))
            reasons.append(why)
            if row.stage == Stage.TRANSCRIBE.value and (Stage.ALIGN.value, row.part) in by_key:
                parts.append((Stage.ALIGN.value, row.part))  # its chain: align follows
    if parts:
        return Resend(job_id, "parts", tuple(sorted(set(parts))), "; ".join(reasons))
    if merge is None or any(not _done(r) for r in header):
        return None
    ready_at = max((r.completed_at for r in header if r.completed_at), default=prepare.completed_at)
    why = lost(merge, ready_at)
    return Resend(job_id, "merge", reason=why) if why else None


def plan(
    jobs: Iterable[tuple[str, dt.datetime, list[Row]]],
    snapshot: Snapshot | None,
    now: dt.datetime,
    grace: float,
    limits: tuple = (),
) -> list[Resend]:
    """Every resend a pass makes, over ``(job_id, created_at, rows)`` of the active jobs."""
    out = []
    for job_id, created_at, rows in jobs:
        resend = plan_job(job_id, created_at, rows, snapshot, now, grace, limits)
        if resend is not None:
            out.append(resend)
    return out


# -- gathering the inputs ----------------------------------------------------------------


def active_jobs(session: Session) -> list[tuple[str, dt.datetime, list[Row]]]:
    """``(job_id, created_at, rows)`` of every pending or running job."""
    jobs = session.execute(
        sa.select(Job.id, Job.created_at).where(Job.status.in_(queries.ACTIVE))
    ).all()
    if not jobs:
        return []
    rows: dict[str, list[Row]] = {job_id: [] for job_id, _ in jobs}
    for r in session.scalars(sa.select(StageRun).where(StageRun.job_id.in_(list(rows)))):
        rows[r.job_id].append(
            Row(
                r.stage,
                r.part,
                r.status,
                _aware(r.created_at),
                _aware(r.started_at),
                _aware(r.completed_at),
            )
        )
    return [(job_id, _aware(created), rows[job_id]) for job_id, created in jobs]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _message_key(payload: bytes | str) -> tuple[str, str, int] | None:
    """``(stage, job_id, part)`` of a kombu Redis message (Celery protocol 2, JSON)."""
    try:
        message = json.loads(payload)
        if isinstance(message, list):  # the unacked hash: [message, exchange, routing_key]
            message = message[0]
        task = message["headers"]["task"]
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    stage = task.removeprefix("dalston.")
    if stage not in BY_NAME or not args:
        return None
    return stage, str(args[0]), int(args[1]) if len(args) > 1 else 0


def broker_snapshot(broker_url: str, queues: Iterable[str]) -> Snapshot | None:
    """Every stage message a Redis broker holds, read in one MULTI; None for other brokers.

    Queued messages are the queues' lists (and their priority sub-lists); messages a worker
    holds (running, or waiting for a retry's countdown) are in kombu's ``unacked`` hash.
    """
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=10)
    try:
        names = []
        for queue in queues:
            names.append(queue)
            names.extend(f"{queue}\x06\x16{p}" for p in range(1, 10))
        pipe = client.pipeline(transaction=True)
        for name in names:
            pipe.lrange(name, 0, -1)
        pipe.hvals("unacked")
        results = pipe.execute()
    finally:
        client.close()
    keys = set()
    for values in results:
        for payload in values:
            key = _message_key(payload)
            if key is not None:
                keys.add(key)
    return frozenset(keys)


# -- sending -----------------------------------------------------------------------------


def signature_for(app: Celery, resend: Resend) -> tuple[Signature, dict]:
    """The canvas that sends ``resend`` again, and its task ids by ``(stage, part)``."""
    ids: dict = {}
    job_id = resend.job_id
    if resend.kind == "prepare":
        return builder.signature(app, Stage.PREPARE, job_id, None, ids), ids
    if resend.kind == "merge":
        return builder.signature(app, Stage.MERGE, job_id, None, ids), ids
    if resend.kind == "whisperx":
        return builder.signature(app, Stage.WHISPERX_FULL, job_id, None, ids), ids
    aligned = {part for stage, part in resend.parts if stage == Stage.ALIGN.value}
    header = []
    for stage, part in resend.parts:
        if stage == Stage.TRANSCRIBE.value:
            sig = builder.signature(app, stage, job_id, part, ids)
            if part in aligned:
                sig = chain(sig, builder.signature(app, Stage.ALIGN, job_id, part, ids))
            header.append(sig)
        elif stage == Stage.ALIGN.value:
            continue  # sent after its transcription, or alone below
        else:
            header.append(builder.signature(app, stage, job_id, None, ids))
    for stage, part in resend.parts:
        if stage == Stage.ALIGN.value and (Stage.TRANSCRIBE.value, part) not in resend.parts:
            header.append(builder.signature(app, stage, job_id, part, ids))
    return group(header), ids


def redispatched(resend: Resend) -> None:
    """Called once per resend: the log line and ``dalston_reconciler_redispatches_total``
    (one per stage sent again)."""
    log.warning("reconciler: job %s: resending %s (%s)", resend.job_id, resend.kind, resend.reason)
    if resend.kind == "parts":
        stages = [stage for stage, _ in resend.parts]
    else:
        stages = [{"whisperx": Stage.WHISPERX_FULL.value}.get(resend.kind, resend.kind)]
    for stage in stages:
        metrics.RECONCILER_REDISPATCHES.labels(stage=stage).inc()


def _locked(session: Session) -> bool:
    """Take the pass's advisory lock (PostgreSQL; SQLite has one process); False if held."""
    if session.bind.dialect.name != "postgresql":
        return True
    return bool(session.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}))


def run(
    app: Celery,
    session: Session,
    *,
    grace: float,
    limits: tuple = (),
    snapshot: Snapshot | None | str = "broker",
    now: dt.datetime | None = None,
) -> list[Resend]:
    """One pass: lock, snapshot the broker, read the rows, send what is lost; what it sent.

    ``snapshot="broker"`` reads the broker the app uses; embedded mode passes an empty
    snapshot at start-up (its in-memory broker lost everything with the process).
    """
    if not _locked(session):
        log.info("reconciler: another pass holds the lock")
        return []
    if snapshot == "broker":
        queues = [q.name for q in app.conf.task_queues or ()]
        snapshot = broker_snapshot(app.conf.broker_url or "", queues)
    jobs = active_jobs(session)
    resends = plan(jobs, snapshot, now or utcnow(), grace, limits)
    for resend in resends:
        signature, ids = signature_for(app, resend)
        for (stage, part), task_id in ids.items():
            queries.ensure_stage(session, resend.job_id, stage, part, task_id=task_id)
        signature.apply_async()
        redispatched(resend)
    session.commit()  # the new task ids (for revocation on cancel); releases the lock
    return resends
