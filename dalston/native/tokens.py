"""``POST /v1/realtime/tokens``: a single-use token for one realtime WebSocket handshake.

For clients that cannot keep a key secret (a browser): the server side asks with its key
(``realtime`` scope) and hands the token over; the client opens
``/v1/audio/transcriptions/stream?token=…`` (or either other family's realtime route) once,
within ``ttl_seconds``. ElevenLabs' equivalent is ``POST /v1/single-use-token/realtime_scribe``
(``dalston.elevenlabs.tokens``). The token carries the key's tenant and the ``realtime``
scope only (``dalston.keys``).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, request

from dalston import keys, limits
from dalston.api import services
from dalston.errors import ApiError

bp = Blueprint("realtime_tokens", __name__)
MIN_TTL, MAX_TTL = 10, 3600


@bp.post("/v1/realtime/tokens")
def create_token():
    """``{"ttl_seconds"?: 10–3600}`` → 201 ``{token, expires_at, ttl_seconds}``."""
    body = request.get_json(silent=True) or {}
    ttl = body.get("ttl_seconds", services().settings.token_ttl) if isinstance(body, dict) else None
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL <= ttl <= MAX_TTL:
        raise ApiError(
            422,
            "validation_error",
            f"ttl_seconds: a whole number of seconds from {MIN_TTL} to {MAX_TTL}",
            "ttl_seconds",
        )
    token = keys.issue_token(limits.current().backend, g.identity, "realtime", ttl)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=ttl)
    return (
        jsonify({"token": token, "expires_at": expires.isoformat(), "ttl_seconds": ttl}),
        201,
    )
