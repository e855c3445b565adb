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


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

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
