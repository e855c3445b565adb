"""The realtime WebSocket routes: thin handlers that build a protocol and run a session.

Authentication is not here: ``dalston.auth``'s one ``before_request`` hook runs on the
HTTP upgrade request of every route (a key, or a single-use ``?token=``), so a handshake
without one is answered ``401`` before any WebSocket exists. A key with all its sessions
open (``dalston.limits``) is told so and closed with 4429. A handshake whose parameters a
protocol refuses is accepted, told why in that protocol's error message and closed with
4400.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from dalston import limits
from dalston.auth import current_tenant
from dalston.realtime import sock
from dalston.realtime.elevenlabs import ElevenLabsProtocol
from dalston.realtime.native import NativeProtocol
from dalston.realtime.openai import OpenAIProtocol
from dalston.realtime.retention import SessionRecorder
from dalston.realtime.session import ProtocolError, RealtimeSession

NATIVE_PATH = "/v1/audio/transcriptions/stream"
ELEVENLABS_PATH = "/v1/speech-to-text/realtime"
OPENAI_PATH = "/v1/realtime"

bp = Blueprint("realtime", __name__)
PROTOCOL_NAMES = {
    NativeProtocol: "native",
    ElevenLabsProtocol: "elevenlabs",
    OpenAIProtocol: "openai",
}


def _services():
    return current_app.extensions["dalston"]


def _serve(ws, protocol_cls) -> None:
    services = _services()
    settings = services.settings
    try:
        protocol = protocol_cls(request.args, settings)
    except ProtocolError as exc:
        fallback = protocol_cls.refusal(exc)
        for message in fallback:
            ws.send(message)
        ws.close(4400, exc.message[:120])
        return
    tenant = current_tenant()

    def recorder(session_id):
        return SessionRecorder(
            services,
            session_id,
            PROTOCOL_NAMES[protocol_cls],
            tenant,
            getattr(protocol, "model", None) or settings.realtime_model,
            enhance=getattr(protocol, "enhance", False),
        )

    session = RealtimeSession(ws, protocol, services.relay, settings, recorder)
    lease = limits.acquire_session()  # the key's concurrent sessions, over every API process
    if lease is None:
        session.fail(
            "session_limit",
            protocol.codes["session_limit"],
            "this key has its limit of open realtime sessions "
            "(DALSTON_REALTIME_SESSIONS_PER_KEY); retry when one ends",
            recoverable=True,
        )
        return
    try:
        session.run()
    finally:
        limits.release_session(lease)


@sock.route(NATIVE_PATH, bp=bp)
def native_stream(ws):
    _serve(ws, NativeProtocol)


@sock.route(ELEVENLABS_PATH, bp=bp)
def elevenlabs_stream(ws):
    _serve(ws, ElevenLabsProtocol)


@sock.route(OPENAI_PATH, bp=bp)
def openai_stream(ws):
    _serve(ws, OpenAIProtocol)


@bp.get("/v1/realtime/status")
def status():
    """Realtime capacity: live workers, their slots and the sessions open on them."""
    return jsonify(_services().relay.status())


def install(app) -> None:
    from dalston.realtime import sessions_api

    app.register_blueprint(bp)
    app.register_blueprint(sessions_api.bp)
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "ping_interval": 20,
            # a hard cap; frames over DALSTON_REALTIME_MAX_FRAME_BYTES get an error message
            "max_message_size": 8 * app.extensions["dalston"].settings.realtime_max_frame_bytes,
        },
    )
