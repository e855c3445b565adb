"""The native error shape: ``{"error": {"code", "message", "field"?}}``, with the real status.

Also the shape of the operations routes (``/health``, ``/v1/models``, …) and of any path no
family owns. ``dalston.app`` sends every error of a native request here.
"""

from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from dalston.api import services
from dalston.errors import ApiError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "file_too_large",
    415: "unsupported_media_type",
}


def handle(exc: Exception):
    """Any exception raised while answering a native request, as a native error response."""
    if isinstance(exc, ApiError):
        return jsonify(exc.to_dict()), exc.status
    if isinstance(exc, HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            limit = services().settings.max_upload_bytes // (1 << 20)
            message = f"the request is larger than the {limit} MB limit (DALSTON_MAX_UPLOAD_MB)"
        code = HTTP_CODES.get(exc.code, exc.name.lower().replace(" ", "_"))
        return jsonify(ApiError(exc.code or 500, code, message).to_dict()), exc.code
    log.exception("unhandled error")
    return jsonify(ApiError(500, "internal_error", "internal server error").to_dict()), 500
