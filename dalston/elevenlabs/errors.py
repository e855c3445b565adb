"""ElevenLabs' error shape: ``{"detail": {"type", "code", "message", "status", "request_id",
"param"}}`` (``status`` repeats ``code`` for legacy clients).

Bad input is ``400`` for any reason: the SDKs parse a 422 body as a FastAPI validation list,
and never get a status they retry (408, 409, 429, 5xx), as the Python SDK's retry drops
every form field but the file (api-compat.md §3.3). ``dalston.app`` sends every error of a
``/v1/speech-to-text*`` request here.
"""

from __future__ import annotations

import logging
import uuid

from flask import g, jsonify
from werkzeug.exceptions import HTTPException

from dalston.errors import ApiError

log = logging.getLogger(__name__)

ERROR_TYPES = {400: "validation_error", 401: "authentication_error", 404: "not_found"}
HTTP_CODES = {413: "file_too_large", 404: "not_found", 405: "method_not_allowed"}


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict:
    return {
        "detail": {
            "type": ERROR_TYPES.get(status, "invalid_request" if status < 500 else "server_error"),
            "code": code,
            "message": message,
            "status": code,
            "request_id": g.get("request_id") or str(uuid.uuid4()),
            "param": param,
        }
    }


def handle(exc: Exception):
    """Any exception raised while answering an ElevenLabs request, in ElevenLabs' shape."""
    if isinstance(exc, ApiError):
        # The shared edge checks speak native statuses; ElevenLabs clients get 400 for any
        # bad input.
        status = 400 if exc.status in (415, 422) else exc.status
        return jsonify(error_body(status, exc.code, exc.message, exc.field)), status
    if isinstance(exc, HTTPException):
        code = HTTP_CODES.get(exc.code, "invalid_request")
        body = error_body(exc.code or 400, code, exc.description or exc.name)
        return jsonify(body), exc.code
    log.exception("unhandled error")
    return jsonify(error_body(500, "internal_error", "internal server error")), 500
