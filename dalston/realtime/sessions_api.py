"""``/v1/realtime/sessions``: the sessions a caller ran, their transcripts and exports.

Every query filters on the caller's tenant (``current_tenant()``; ``None`` sees every
tenant), and another tenant's id is answered 404 exactly as an unknown one. Errors are the
native family's shape (``ApiError``). ``DELETE`` removes the stored objects first and the
row last (marked ``deleting`` in between), so a failed delete can be retried and never
leaves objects without a row.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from dalston import exports
from dalston.api import db, services
from dalston.api.requests import decode_cursor, encode_cursor
from dalston.auth import current_tenant
from dalston.db.models import RealtimeSessionRecord
from dalston.errors import ApiError
from dalston.realtime import retention

bp = Blueprint("realtime_sessions", __name__, url_prefix="/v1/realtime/sessions")
MAX_LIMIT = 100


def _view(row: RealtimeSessionRecord) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "status": row.status,
        "protocol": row.protocol,
        "model": row.model,
        "created_at": iso(row.created_at),
        "ended_at": iso(row.ended_at),
        "audio_seconds": row.audio_seconds,
        "speech_seconds": row.speech_seconds,
        "language": row.language_code,
        "close_code": row.close_code,
        "error": row.error,
        "retained": bool(row.audio_key),
        "text": row.text,
        "enhance_job_id": row.enhance_job_id,
    }


def _query():
    query = sa.select(RealtimeSessionRecord).where(RealtimeSessionRecord.status != "deleting")
    tenant = current_tenant()
    if tenant is not None:
        query = query.where(RealtimeSessionRecord.tenant_id == tenant)
    return query


def _get_or_404(session_id: str) -> RealtimeSessionRecord:
    row = db().scalars(_query().where(RealtimeSessionRecord.id == session_id)).first()
    if row is None:
        raise ApiError(404, "session_not_found", f"no realtime session {session_id!r}")
    return row


@bp.get("")
def list_sessions():
    """Sessions, newest first, with cursor pagination (``limit``, ``cursor``, ``status``)."""
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        raise ApiError(422, "invalid_limit", "limit must be an integer", "limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, "invalid_limit", f"limit must be 1–{MAX_LIMIT}", "limit")
    Row = RealtimeSessionRecord
    query = _query().order_by(Row.created_at.desc(), Row.id.desc()).limit(limit + 1)
    if request.args.get("status"):
        query = query.where(Row.status == request.args["status"])
    if request.args.get("cursor"):
        created, sid = decode_cursor(request.args["cursor"])
        if db().bind.dialect.name == "sqlite":  # SQLite stores naive datetimes
            created = created.replace(tzinfo=None)
        query = query.where(
            sa.or_(
                Row.created_at < created,
                sa.and_(Row.created_at == created, Row.id < sid),
            )
        )
    rows = list(db().scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "sessions": [_view(r) for r in rows],
            "cursor": encode_cursor(rows[-1]) if has_more else None,
            "has_more": has_more,
        }
    )


@bp.get("/<session_id>")
def get_session(session_id: str):
    return jsonify(_view(_get_or_404(session_id)))


def _transcript(row: RealtimeSessionRecord) -> dict:
    if not row.transcript_key:
        reason = "is still running" if row.status == "active" else "was not retained"
        raise ApiError(404, "transcript_not_available", f"the session's transcript {reason}")
    return json.loads(services().store.get_bytes(row.transcript_key))


@bp.get("/<session_id>/transcript")
def get_transcript(session_id: str):
    row = _get_or_404(session_id)
    return jsonify(dict(_transcript(row), session_id=row.id))


@bp.get("/<session_id>/export/<fmt>")
def export(session_id: str, fmt: str):
    row = _get_or_404(session_id)
    try:
        name = exports.normalize_format(fmt)
    except ValueError as exc:
        raise ApiError(400, "unsupported_format", str(exc), "format") from exc
    try:
        options = exports.export_options(request.args)
        body, mimetype = exports.render(_transcript(row), name, **options)
    except ValueError as exc:
        raise ApiError(400, "invalid_export", str(exc)) from exc
    disposition = f'attachment; filename="realtime-{row.id}.{name}"'
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": disposition})


@bp.delete("/<session_id>")
def delete_session(session_id: str):
    row = _get_or_404(session_id)
    if row.status == "active":
        raise ApiError(409, "session_active", "the session is still running; end it first")
    row.status = "deleting"
    db().commit()
    services().store.delete_prefix(retention.session_prefix(row.id))  # objects first
    db().delete(row)  # the row last, once nothing it names is left
    db().commit()
    return "", 204
