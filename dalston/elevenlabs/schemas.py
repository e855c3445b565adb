"""Parse an ElevenLabs ``POST /v1/speech-to-text`` form into Dalston job options. Pure.

Every field of api-compat.md §1.2 is accepted in each encoding the official SDKs send:

* the Python SDK always sends ``webhook_metadata``, ``entity_detection`` and
  ``entity_redaction`` — JSON-encoded, with the literal ``null`` when the caller gave
  nothing — so ``null`` means absent everywhere;
* the JS SDK sends lists as repeated plain fields and ``additional_formats`` as a plain
  text part; the Python SDK sends it as an ``application/json`` part (Werkzeug puts a part
  with a content type but no file name into ``request.form`` too);
* booleans are ``true``/``false`` (``1``/``0`` and ``yes``/``no`` are accepted too).

The form is read with marshmallow (:class:`ConvertFormSchema`, :class:`ConvertQuerySchema`)
after the SDK quirks are undone (:func:`form_data`: ``null``, ``None`` and empty values are
absent, a field's last value wins, list fields keep every value); the rules between fields
are checked after it, in :func:`parse`.

Problems raise :class:`~dalston.errors.ApiError` with status 400 — not 422, whose body the
SDKs parse as FastAPI validation errors, and never a status the SDKs retry (408, 409, 429,
5xx): the Python SDK's retry drops every form field but the file (api-compat.md §3.3).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from dalston import languages
from dalston.elevenlabs import entities
from dalston.elevenlabs import formats as el_formats
from dalston.engines import models
from dalston.errors import ApiError
from dalston.options import JobOptions
from dalston.schemas.fields import Boolean, Repeated, described, first_error

#: ElevenLabs batch model ids → the Dalston model (``None``: the server default).
#: Override or extend with ``DALSTON_ELEVENLABS_MODELS="scribe_v1=base,scribe_v2=large-v3"``.
DEFAULT_MODEL_MAP: dict[str, str | None] = {
    "scribe_v1": None,
    "scribe_v1_experimental": None,
    "scribe_v2": None,
    "scribe_v2_medical": None,
    "scribe_v3": None,
}
REALTIME_MODELS = ("scribe_v2_realtime", "scribe_v3_live")
GRANULARITIES = ("none", "word", "character")
KEYTERM_FORBIDDEN = set("<>{}[]\\")
MAX_KEYTERMS = 1000
MAX_CHANNELS = 5
#: Values that mean "not sent" (the Python SDK's ``null``; empty form fields).
ABSENT = ("", "null", "None")


def bad(message: str, param: str | None = None, code: str = "invalid_parameters") -> ApiError:
    return ApiError(400, code, message, param)


def model_map(spec: str = "") -> dict[str, str | None]:
    """The model-id table, with ``DALSTON_ELEVENLABS_MODELS`` (``id=model,…``) applied."""
    mapping = dict(DEFAULT_MODEL_MAP)
    for pair in (spec or "").split(","):
        if "=" in pair:
            name, _, model = pair.partition("=")
            mapping[name.strip()] = model.strip() or None
    return mapping


@dataclasses.dataclass
class ElevenLabsRequest:
    """A validated request: the job's pipeline params plus how to answer."""

    model_id: str
    model: str | None  # Dalston model; None = server default
    options: JobOptions  # the job plan (its model: the server default when ``model`` is None)
    response: dict[str, Any]  # everything the response renderer needs, stored on the job
    source_url: str | None
    raw_pcm: bool
    webhook: bool
    enable_logging: bool


# --------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------


def _number(kind: type[fields.Number], lo, hi, name: str) -> fields.Number:
    return kind(
        load_default=None,
        validate=validate.Range(lo, hi, error=f"must be between {lo} and {hi}"),
        error_messages={"invalid": f"must be a{'n' if name == 'int' else ''} {name}"},
    )


def _choice(choices, default) -> fields.String:
    return fields.String(
        load_default=default,
        validate=validate.OneOf(
            choices, error=f"must be one of {', '.join(choices)}; got {{input!r}}"
        ),
    )


class Keyterms(Repeated):
    """``keyterms``: repeated plain values, or a JSON array in one value (hand-written clients)."""

    def _deserialize(self, value, attr, data, **kwargs):
        terms: list[str] = []
        for item in value:
            if item.lstrip().startswith("["):
                try:
                    items = json.loads(item)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"is not a JSON array: {exc.msg}") from exc
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise ValidationError("must be strings")
                terms.extend(items)
            else:
                terms.append(item)
        terms = [t.strip() for t in terms if t.strip()]
        if len(terms) > MAX_KEYTERMS:
            raise ValidationError(f"at most {MAX_KEYTERMS} keyterms")
        for term in terms:
            if len(term) > 50 or len(term.split()) > 5 or KEYTERM_FORBIDDEN & set(term):
                raise ValidationError(
                    f"keyterm {term!r} in keyterms: at most 50 characters and 5 words, "
                    "none of <>{}[]\\"
                )
        return terms or None


class EntitySelection(Repeated):
    """``entity_detection`` / ``entity_redaction`` in any SDK encoding (see ``entities``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return entities.parse_entity_selection(value, param=attr)
        except entities.EntityError as exc:
            raise ValidationError(exc.message) from exc


class RedactionMode(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return entities.parse_redaction_mode(super()._deserialize(value, attr, data, **kwargs))
        except entities.EntityError as exc:
            raise ValidationError(exc.message) from exc


class AdditionalFormats(fields.Field):
    """``additional_formats``: JSON text of an array of export options (see ``formats``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return el_formats.parse_additional_formats(value)
        except el_formats.FormatError as exc:
            raise ValidationError(exc.message) from exc


class WebhookMetadata(fields.Field):
    """``webhook_metadata``: a JSON object, or a JSON string that holds one (Python SDK)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if len(value.encode()) > 16 * 1024:
            raise ValidationError("must be at most 16 KB")
        try:
            meta = json.loads(value)
            if isinstance(meta, str):
                meta = json.loads(meta)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"is not JSON: {exc.msg}") from exc
        if not isinstance(meta, dict):
            raise ValidationError("must be a JSON object")
        if _depth(meta) > 2:
            raise ValidationError("may nest at most 2 levels")
        return meta


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class ConvertFormSchema(Schema):
    """The form of ``POST /v1/speech-to-text`` (the file itself is read separately)."""

    class Meta:
        unknown = EXCLUDE

    model_id = fields.String(required=True)  # checked first, by parse
    cloud_storage_url = fields.String(load_default=None)
    source_url = fields.String(load_default=None)
    language_code = fields.String(load_default=None)
    timestamps_granularity = _choice(GRANULARITIES, "word")
    diarize = Boolean(load_default=False)
    num_speakers = _number(fields.Integer, 1, 32, "int")
    diarization_threshold = _number(fields.Float, 0.1, 0.4, "float")
    use_multi_channel = Boolean(load_default=False)
    multichannel_output_style = _choice(("separate", "combined"), "separate")
    webhook = Boolean(load_default=False)
    webhook_id = fields.String(load_default=None)
    additional_formats = AdditionalFormats(load_default=list)
    entity_detection = EntitySelection(load_default=None)
    entity_redaction = EntitySelection(load_default=None)
    entity_redaction_mode = RedactionMode(load_default=entities.DEFAULT_REDACTION_MODE)
    transcript_edit = fields.String(
        load_default=None, validate=validate.Length(max=2000, error="is at most 2000 characters")
    )
    numbers_format = _choice(("digits", "words"), None)
    # Validated only; see the README's compatibility matrix.
    no_verbatim = Boolean(load_default=False)
    use_speaker_library = Boolean(load_default=False)
    detect_speaker_roles = Boolean(load_default=False)
    tag_audio_events = Boolean(load_default=True)
    keyterms = Keyterms(load_default=None)
    temperature = _number(fields.Float, 0.0, 2.0, "float")
    seed = _number(fields.Integer, 0, 2147483647, "int")
    webhook_metadata = WebhookMetadata(load_default=None)
    file_format = _choice(("pcm_s16le_16", "other"), "other")


class ConvertQuerySchema(Schema):
    """The query string of ``POST /v1/speech-to-text`` (the SDKs send ``enable_logging`` here)."""

    class Meta:
        unknown = EXCLUDE

    enable_logging = Boolean(load_default=True)


convert_form_schema = ConvertFormSchema()
convert_query_schema = ConvertQuerySchema()


def form_data(form, schema: Schema) -> dict[str, Any]:
    """The schema's fields as the SDKs send them: absent values dropped, the last value of
    a plain field, every value of a :class:`Repeated` one."""
    getlist = getattr(form, "getlist", None)
    data: dict[str, Any] = {}
    for name, field in schema.fields.items():
        raw = getlist(name) if getlist else ([form[name]] if name in form else [])
        values = [v for v in raw if v is not None and v.strip() not in ABSENT]
        if values:
            data[name] = values if getattr(field, "repeated", False) else values[-1]
    return data


def load(schema: Schema, form) -> dict[str, Any]:
    """``schema`` over ``form`` (a ``MultiDict``); the first refused field as a 400."""
    try:
        return schema.load(form_data(form, schema))
    except ValidationError as exc:
        field, message = first_error(exc)
        raise bad(described(field, message), field) from exc


# --------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------


def _model(model_id: str, models_spec: str) -> str | None:
    if model_id in REALTIME_MODELS:
        raise bad(
            f"{model_id} is a realtime model: use the WebSocket /v1/speech-to-text/realtime",
            "model_id",
            "invalid_model_id",
        )
    mapping = model_map(models_spec)
    if model_id in mapping:
        return mapping[model_id]
    if model_id in models.BUILTIN:  # Dalston's own model names work too
        return model_id
    raise bad(
        f"unknown model_id {model_id!r}; this server offers {', '.join(sorted(mapping))} "
        "(and its own models, see GET /v1/models)",
        "model_id",
        "invalid_model_id",
    )


def _source_url(form: dict, has_file: bool) -> str | None:
    urls = {k: form.get(k) for k in ("cloud_storage_url", "source_url")}
    given = [k for k, v in urls.items() if v] + (["file"] if has_file else [])
    if len(given) > 1:
        raise bad(
            f"send exactly one of file, cloud_storage_url, source_url; got {', '.join(given)}",
            given[0],
        )
    if not given:
        raise bad("send the audio as file, cloud_storage_url or source_url", "file", "missing_file")
    source_url = urls["cloud_storage_url"] or urls["source_url"]
    if source_url and not source_url.lower().startswith(("http://", "https://")):
        raise bad("the audio URL must be http or https", given[0])
    return source_url


def _check(form: dict) -> None:
    """The rules between fields."""
    diarize, multi = form["diarize"], form["use_multi_channel"]
    if form["diarization_threshold"] is not None and (
        not diarize or form["num_speakers"] is not None
    ):
        raise bad(
            "diarization_threshold applies only with diarize=true and no num_speakers",
            "diarization_threshold",
        )
    if multi and diarize:
        raise bad(
            "use_multi_channel takes each channel as one speaker; it cannot be combined with "
            "diarize",
            "diarize",
        )
    if (
        multi
        and form["multichannel_output_style"] == "combined"
        and form["timestamps_granularity"] == "none"
    ):
        raise bad(
            "multichannel_output_style=combined needs timestamps to interleave the channels",
            "timestamps_granularity",
        )
    if form["webhook_id"] and not form["webhook"]:
        raise bad("webhook_id applies only with webhook=true", "webhook_id")
    try:
        entities.check_redaction(form["entity_detection"], form["entity_redaction"])
    except entities.EntityError as exc:
        raise bad(str(exc), exc.param) from exc


def parse(form, args, *, has_file: bool, models_spec: str = "", default_model: str = "base"):
    """Validate the form (``request.form``) and query (``request.args``).

    The model and the audio source are checked first, the other fields after them.
    """
    raw = form_data(form, convert_form_schema)
    if "model_id" not in raw:
        raise bad("model_id is required", "model_id", "missing_model_id")
    model = _model(raw["model_id"], models_spec)
    source_url = _source_url(raw, has_file)
    data = load(convert_form_schema, form)
    query = load(convert_query_schema, args)
    try:
        language = languages.to_whisper(data["language_code"])
    except ValueError as exc:
        raise bad(str(exc), "language_code") from exc
    _check(data)
    granularity, diarize = data["timestamps_granularity"], data["diarize"]
    multi = data["use_multi_channel"]
    detection, redaction = data["entity_detection"], data["entity_redaction"]
    options = JobOptions(
        model=model or default_model,
        language=language,
        timestamps_granularity="segment" if granularity == "none" else granularity,
        speaker_detection="per_channel" if multi else ("diarize" if diarize else "none"),
        # ElevenLabs' num_speakers is the most speakers that may be talking.
        max_speakers=data["num_speakers"] if diarize else None,
        diarization_threshold=data["diarization_threshold"],
        vocabulary=data["keyterms"],
        temperature=data["temperature"],
        seed=data["seed"],
        tag_audio_events=data["tag_audio_events"],
    )
    response = {
        "api": "elevenlabs",
        "model_id": data["model_id"],
        "granularity": granularity,
        "diarize": diarize,
        "multichannel": data["multichannel_output_style"] if multi else None,
        "additional_formats": [dataclasses.asdict(f) for f in data["additional_formats"]],
        "entity_detection": sorted(detection) if detection else None,
        "entity_redaction": sorted(redaction) if redaction else None,
        "entity_redaction_mode": data["entity_redaction_mode"],
        "transcript_edit": data["transcript_edit"],
        "numbers_format": data["numbers_format"],
        "webhook": data["webhook"],
        "webhook_id": data["webhook_id"],
        "webhook_metadata": data["webhook_metadata"],
    }
    return ElevenLabsRequest(
        model_id=data["model_id"],
        model=model,
        options=options,
        response=response,
        source_url=source_url,
        raw_pcm=data["file_format"] == "pcm_s16le_16",
        webhook=data["webhook"],
        enable_logging=query["enable_logging"],
    )
