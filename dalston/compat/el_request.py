"""Parse an ElevenLabs ``POST /v1/speech-to-text`` form into Dalston job options. Pure.

Every field of api-compat.md §1.2 is accepted in each encoding the official SDKs send:

* the Python SDK always sends ``webhook_metadata``, ``entity_detection`` and
  ``entity_redaction`` — JSON-encoded, with the literal ``null`` when the caller gave
  nothing — so ``null`` means absent everywhere;
* the JS SDK sends lists as repeated plain fields and ``additional_formats`` as a plain
  text part; the Python SDK sends it as an ``application/json`` part (Werkzeug puts a part
  with a content type but no file name into ``request.form`` too);
* booleans are ``true``/``false`` (``1``/``0`` and ``yes``/``no`` are accepted too).

Problems raise :class:`~dalston.errors.ApiError` with status 400 — not 422, whose body the
SDKs parse as FastAPI validation errors, and never a status the SDKs retry (408, 409, 429,
5xx): the Python SDK's retry drops every form field but the file (api-compat.md §3.3).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from dalston.compat import languages
from dalston.errors import ApiError
from dalston.options import JobOptions

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


def _values(form, name: str) -> list[str]:
    """All non-null values of a field (``null`` and empty strings are absent)."""
    getlist = getattr(form, "getlist", None)
    raw = getlist(name) if getlist else ([form[name]] if name in form else [])
    return [v for v in raw if v is not None and v.strip() not in ("", "null", "None")]


def _one(form, name: str) -> str | None:
    values = _values(form, name)
    return values[-1] if values else None


def _bool(form, name: str, default: bool) -> bool:
    value = _one(form, name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off"):
        return False
    raise bad(f"{name} must be true or false, not {value!r}", name)


def _number(form, name: str, kind, lo, hi):
    value = _one(form, name)
    if value is None:
        return None
    try:
        number = kind(value.strip())
    except ValueError:
        raise bad(f"{name} must be a {kind.__name__}, not {value!r}", name) from None
    if not lo <= number <= hi:
        raise bad(f"{name} must be between {lo} and {hi}", name)
    return number


def _choice(form, name: str, choices, default):
    value = _one(form, name)
    if value is None:
        return default
    if value not in choices:
        raise bad(f"{name} must be one of {', '.join(choices)}; got {value!r}", name)
    return value


def _metadata(form) -> Any:
    """``webhook_metadata``: a JSON object, or a JSON string that holds one (Python SDK)."""
    value = _one(form, "webhook_metadata")
    if value is None:
        return None
    if len(value.encode()) > 16 * 1024:
        raise bad("webhook_metadata must be at most 16 KB", "webhook_metadata")
    try:
        data = json.loads(value)
        if isinstance(data, str):
            data = json.loads(data)
    except json.JSONDecodeError as exc:
        raise bad(f"webhook_metadata is not JSON: {exc.msg}", "webhook_metadata") from exc
    if not isinstance(data, dict):
        raise bad("webhook_metadata must be a JSON object", "webhook_metadata")
    if _depth(data) > 2:
        raise bad("webhook_metadata may nest at most 2 levels", "webhook_metadata")
    return data


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _keyterms(form) -> list[str] | None:
    terms: list[str] = []
    for value in _values(form, "keyterms"):
        # A JSON array in one field is accepted too (hand-written clients).
        if value.lstrip().startswith("["):
            try:
                items = json.loads(value)
            except json.JSONDecodeError as exc:
                raise bad(f"keyterms is not a JSON array: {exc.msg}", "keyterms") from exc
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise bad("keyterms must be strings", "keyterms")
            terms.extend(items)
        else:
            terms.append(value)
    terms = [t.strip() for t in terms if t.strip()]
    if len(terms) > MAX_KEYTERMS:
        raise bad(f"at most {MAX_KEYTERMS} keyterms", "keyterms")
    for term in terms:
        if len(term) > 50 or len(term.split()) > 5 or KEYTERM_FORBIDDEN & set(term):
            raise bad(
                f"keyterm {term!r}: at most 50 characters and 5 words, none of <>{{}}[]\\",
                "keyterms",
            )
    return terms or None


def parse(form, args, *, has_file: bool, models_spec: str = "", default_model: str = "base"):
    """Validate the form (``request.form``) and query (``request.args``)."""
    from dalston.compat import el_formats, entities

    model_id = _one(form, "model_id")
    if model_id is None:
        raise bad("model_id is required", "model_id", "missing_model_id")
    if model_id in REALTIME_MODELS:
        raise bad(
            f"{model_id} is a realtime model: use the WebSocket /v1/speech-to-text/realtime",
            "model_id",
            "invalid_model_id",
        )
    mapping = model_map(models_spec)
    from dalston.engines import models

    if model_id in mapping:
        model = mapping[model_id]
    elif model_id in models.BUILTIN:  # Dalston's own model names work too
        model = model_id
    else:
        raise bad(
            f"unknown model_id {model_id!r}; this server offers {', '.join(sorted(mapping))} "
            "(and its own models, see GET /v1/models)",
            "model_id",
            "invalid_model_id",
        )

    urls = {k: _one(form, k) for k in ("cloud_storage_url", "source_url")}
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

    try:
        language = languages.to_whisper(_one(form, "language_code"))
    except ValueError as exc:
        raise bad(str(exc), "language_code") from exc
    granularity = _choice(form, "timestamps_granularity", GRANULARITIES, "word")
    diarize = _bool(form, "diarize", False)
    num_speakers = _number(form, "num_speakers", int, 1, 32)
    threshold = _number(form, "diarization_threshold", float, 0.1, 0.4)
    if threshold is not None and (not diarize or num_speakers is not None):
        raise bad(
            "diarization_threshold applies only with diarize=true and no num_speakers",
            "diarization_threshold",
        )
    multi = _bool(form, "use_multi_channel", False)
    style = _choice(form, "multichannel_output_style", ("separate", "combined"), "separate")
    if multi and diarize:
        raise bad(
            "use_multi_channel takes each channel as one speaker; it cannot be combined with "
            "diarize",
            "diarize",
        )
    if multi and style == "combined" and granularity == "none":
        raise bad(
            "multichannel_output_style=combined needs timestamps to interleave the channels",
            "timestamps_granularity",
        )
    webhook = _bool(form, "webhook", False)
    webhook_id = _one(form, "webhook_id")
    if webhook_id and not webhook:
        raise bad("webhook_id applies only with webhook=true", "webhook_id")
    try:
        formats = el_formats.parse_additional_formats(_one(form, "additional_formats"))
    except el_formats.FormatError as exc:
        raise bad(str(exc), "additional_formats") from exc
    try:
        detection = entities.parse_entity_selection(_values(form, "entity_detection"))
        redaction = entities.parse_entity_selection(
            _values(form, "entity_redaction"), param="entity_redaction"
        )
        entities.check_redaction(detection, redaction)
        redaction_mode = entities.parse_redaction_mode(_one(form, "entity_redaction_mode"))
    except entities.EntityError as exc:
        raise bad(str(exc), exc.param) from exc
    transcript_edit = _one(form, "transcript_edit")
    if transcript_edit is not None and len(transcript_edit) > 2000:
        raise bad("transcript_edit is at most 2000 characters", "transcript_edit")
    numbers_format = _choice(form, "numbers_format", ("digits", "words"), None)
    for flag in ("no_verbatim", "use_speaker_library", "detect_speaker_roles"):
        _bool(form, flag, False)  # validated; see the README's compatibility matrix
    tag_audio_events = _bool(form, "tag_audio_events", True)

    options = JobOptions(
        model=model or default_model,
        language=language,
        timestamps_granularity="segment" if granularity == "none" else "word",
        speaker_detection="per_channel" if multi else ("diarize" if diarize else "none"),
        # ElevenLabs' num_speakers is the most speakers that may be talking.
        max_speakers=num_speakers if diarize else None,
        diarization_threshold=threshold,
        vocabulary=_keyterms(form),
        temperature=_number(form, "temperature", float, 0.0, 2.0),
        seed=_number(form, "seed", int, 0, 2147483647),
        tag_audio_events=tag_audio_events,
    )
    response = {
        "api": "elevenlabs",
        "model_id": model_id,
        "granularity": granularity,
        "diarize": diarize,
        "multichannel": style if multi else None,
        "additional_formats": [dataclasses.asdict(f) if dataclasses.is_dataclass(f) else f
                               for f in formats],
        "entity_detection": sorted(detection) if detection else None,
        "entity_redaction": sorted(redaction) if redaction else None,
        "entity_redaction_mode": redaction_mode,
        "transcript_edit": transcript_edit,
        "numbers_format": numbers_format,
        "webhook": webhook,
        "webhook_id": webhook_id,
        "webhook_metadata": _metadata(form),
    }  # fmt: skip
    return ElevenLabsRequest(
        model_id=model_id,
        model=model,
        options=options,
        response=response,
        source_url=source_url,
        raw_pcm=_choice(form, "file_format", ("pcm_s16le_16", "other"), "other") == "pcm_s16le_16",
        webhook=webhook,
        enable_logging=_bool(args, "enable_logging", True),
    )
