"""Reading a request the way every native-shaped route does: a schema load that answers
422 ``validation_error`` naming the field, and the opaque cursor of newest-first listings.

The cursor is ``created_at|id`` in URL-safe base64: stable under inserts (rows are ordered
by both), and one a client can only return, not build; anything else is 400
``invalid_cursor``. Jobs (``/v1/audio/transcriptions``) and realtime sessions
(``/v1/realtime/sessions``) page the same way.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from marshmallow import ValidationError

from dalston.errors import ApiError
from dalston.schemas.fields import first_error


def load_or_422(schema, data) -> dict:
    """``schema.load(data)``, or 422 ``validation_error`` naming the first bad field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        field, message = first_error(exc)
        raise ApiError(
            422, "validation_error", f"{field}: {message}" if field else message, field
        ) from exc


def encode_cursor(row) -> str:
    """The cursor after ``row`` (anything with ``created_at`` and ``id``)."""
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """``(created_at, id)`` of a cursor this API returned; 400 ``invalid_cursor`` otherwise."""
    try:
        created, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return dt.datetime.fromisoformat(created), row_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "invalid_cursor", "the cursor is not one this API returned", "cursor"
        ) from exc
