"""ElevenLabs' ``POST /v1/single-use-token/{token_type}`` → ``{"token": …}``.

``realtime_scribe`` tokens open one realtime WebSocket (``?token=``, with no key: the
SDKs send none when given a token); ``batch_scribe`` tokens authenticate one
``POST /v1/speech-to-text?token=…``. Valid ``DALSTON_TOKEN_TTL`` seconds (ElevenLabs: 15
minutes), consumed on use (``dalston.keys``). ``tts_websocket`` is refused: Dalston does not
speak.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from dalston import keys, limits
from dalston.api import services
from dalston.errors import ApiError

bp = Blueprint("elevenlabs_tokens", __name__, url_prefix="/v1/single-use-token")
USES = {"realtime_scribe": "realtime", "batch_scribe": "batch"}


@bp.post("/<token_type>")
def create_token(token_type: str):
    use = USES.get(token_type)
    if use is None:
        raise ApiError(
            400,
            "invalid_token_type",
            f"token_type {token_type!r} is not offered here; use realtime_scribe or batch_scribe",
            "token_type",
        )
    ttl = services().settings.token_ttl
    return jsonify({"token": keys.issue_token(limits.current().backend, g.identity, use, ttl)})
