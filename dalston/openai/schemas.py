"""The OpenAI transcription and translation forms, read with marshmallow. Pure.

As OpenAI's clients send them: an empty field is absent; a list field
(``timestamp_granularities``, ``include``, ``keywords``) is repeated, with or without the
``[]`` suffix the SDK adds; a plain field's first value counts. A refused field is a 400
with OpenAI's ``code`` for it (:data:`CODES`), never 422.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from dalston import languages
from dalston.errors import ApiError
from dalston.openai.render import FORMATS
from dalston.schemas.fields import Boolean, Repeated, described, first_error

GRANULARITIES = ("word", "segment")
TRANSLATION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
#: The ``code`` of each refusable field.
CODES = {
    "model": "missing_model",
    "response_format": "invalid_response_format",
    "timestamp_granularities": "invalid_timestamp_granularity",
    "language": "invalid_language",
    "temperature": "invalid_temperature",
}


class Stripped(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Language(fields.String):
    """ISO 639-1 or 639-3, any case, optional region: Whisper's code (None: detect it)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return languages.to_whisper(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class TranscriptionFormSchema(Schema):
    """``POST .../audio/transcriptions`` (the file itself is read separately)."""

    class Meta:
        unknown = EXCLUDE

    model = Stripped(required=True, error_messages={"required": "is required"})
    response_format = fields.String(
        load_default="json",
        validate=validate.OneOf(FORMATS, error=f"must be one of {', '.join(FORMATS)}"),
    )
    timestamp_granularities = Repeated(
        fields.String(
            validate=validate.OneOf(GRANULARITIES, error="must be word or segment, not {input!r}")
        ),
        load_default=list,
    )
    language = Language(load_default=None)
    temperature = fields.Float(
        load_default=None,
        validate=validate.Range(0.0, 1.0, error="must be between 0 and 1"),
        error_messages={"invalid": "must be between 0 and 1", "special": "must be between 0 and 1"},
    )
    stream = Boolean(load_default=False)
    prompt = fields.String(load_default=None)
    include = Repeated(load_default=list)
    keywords = Repeated(load_default=list)


class TranslationFormSchema(TranscriptionFormSchema):
    """``POST .../audio/translations``: fewer response formats."""

    response_format = fields.String(
        load_default="json",
        validate=validate.OneOf(
            TRANSLATION_FORMATS, error=f"must be one of {', '.join(TRANSLATION_FORMATS)}"
        ),
    )


form_schemas = {"transcribe": TranscriptionFormSchema(), "translate": TranslationFormSchema()}


def form_data(form, schema: Schema) -> dict[str, Any]:
    """The schema's fields from ``form`` (a ``MultiDict``) as OpenAI clients send them."""
    data: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if getattr(field, "repeated", False):
            values = [v for v in form.getlist(name) + form.getlist(f"{name}[]") if v]
        else:
            value = form.get(name)
            values = value if value and value.strip() else None
        if values:
            data[name] = values
    return data


def load(form, task: str) -> dict[str, Any]:
    """The validated form of a ``transcribe`` or ``translate`` request; a 400 otherwise."""
    schema = form_schemas[task]
    try:
        return schema.load(form_data(form, schema))
    except ValidationError as exc:
        field, message = first_error(exc)
        raise ApiError(
            400, CODES.get(field, "invalid_parameter"), described(field, message), field
        ) from exc
