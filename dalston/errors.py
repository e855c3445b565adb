"""Domain exceptions shared by the API and the workers.

``ApiError`` is raised at the HTTP edge and rendered in the error shape of the request's
API family (``dalston.app`` picks ``errors.handle`` of ``dalston.native``,
``dalston.elevenlabs`` or ``dalston.openai``); :meth:`ApiError.to_dict` is the native shape,
``{"error": {"code", "message", "field"?}}``.
``StageError`` is raised inside a stage for a failure a person must act on (bad audio, a
missing model); the job ends ``failed`` with its ``code`` and ``message`` and the task is
not retried. Any other exception in a stage is an internal error: also recorded, never
silent.
"""

from __future__ import annotations

import botocore.exceptions
import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc

#: Seconds a client is told to wait (``Retry-After``) when a service behind the API is down.
RETRY_AFTER = 5


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        #: Sent as ``Retry-After`` (seconds) by ``dalston.app``, whatever the family.
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}


class StageError(Exception):
    """A stage failure with a reason a person understands; never retried."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidAudio(StageError):
    def __init__(self, message: str):
        super().__init__("invalid_audio", message)


class ModelNotAvailable(StageError):
    def __init__(self, message: str):
        super().__init__("model_not_available", message)


class JobCancelled(Exception):
    """Raised inside a running stage when its job was cancelled; the stage stops quietly."""


class BrokerUnavailable(Exception):
    """The job was committed but its first task could not be queued (the job is failed)."""


def _database_down(exc: BaseException) -> bool:
    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return True
    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # the pool waited for a connection
        return True
    return isinstance(exc, sqlalchemy.exc.DBAPIError) and bool(exc.connection_invalidated)


def as_api_error(exc: BaseException) -> ApiError | None:
    """An infrastructure error, or an input no parser survives, as the API error it is.

    Database, broker and storage outages are 503 with ``Retry-After`` and a code, never a
    500, and never the driver's text (it names hosts and ports). A value nested deeper than
    Python's recursion limit (``"[" * 5000`` in a JSON field) is bad input: 400.
    """
    if isinstance(exc, ApiError):
        return exc
    if _database_down(exc):
        return ApiError(
            503,
            "database_unavailable",
            "the database is unreachable; try again shortly",
            retry_after=RETRY_AFTER,
        )
    if isinstance(exc, BrokerUnavailable) or isinstance(
        exc, (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError)
    ):
        return ApiError(
            503,
            "broker_unavailable",
            "the job queue is unreachable; try again shortly",
            retry_after=RETRY_AFTER,
        )
    if isinstance(
        exc,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError,
        ),
    ):
        return ApiError(
            503,
            "storage_unavailable",
            "the object storage is unreachable; try again shortly",
            retry_after=RETRY_AFTER,
        )
    if isinstance(exc, RecursionError):
        return ApiError(400, "invalid_request", "a field's value is nested too deeply")
    return None
