"""OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``.

Bad input is ``400`` (the SDK's ``BadRequestError``, with ``e.code``, ``e.param`` and
``e.type`` filled), never a status the SDK retries. ``dalston.app`` sends every error of an
OpenAI request here (``dalston.routing.family_of`` says which requests are OpenAI's).
"""

from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from dalston.errors import ApiError

log = logging.getLogger(__name__)


def error(status: int, message: str, code: str | None, param: str | None = None):
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return jsonify(body), status


def handle(exc: Exception):
    """Any exception raised while answering an OpenAI request, in OpenAI's shape."""
    if isinstance(exc, ApiError):
        status = 400 if exc.status in (415, 422) else exc.status
        return error(status, exc.message, exc.code, exc.field)
    if isinstance(exc, HTTPException):
        code = "file_too_large" if exc.code == 413 else "invalid_request"
        return error(exc.code or 400, exc.description or exc.name, code)
    log.exception("unhandled error")
    return error(500, "internal server error", "internal_error")
