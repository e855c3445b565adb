"""OpenAI-compatible ``/v1/audio/transcriptions`` and ``/v1/audio/translations``.

Both are synchronous, as OpenAI's are: the job runs on the pipeline and the request waits
for it (``DALSTON_OPENAI_SYNC_TIMEOUT``, 580 s by default, under the SDK's 600 s timeout).

**Which API answers ``POST /v1/audio/transcriptions``** (shared with the native API). A
request is *native* (asynchronous job, ``201``) when it opts in explicitly:

1. a ``Prefer: respond-async`` header, or
2. any native-only field (``audio_url``, ``speaker_detection``, ``num_speakers``,
   ``min_speakers``, ``max_speakers``, ``timestamps_granularity``, ``vocabulary``,
   ``diarize_engine``, ``align_engine``, ``transcribe_engine``, ``beam_size``), or
3. no ``model``, or ``model=auto``.

Everything else is an OpenAI request *whatever the model name*: OpenAI clients (the SDK,
Open WebUI, LiveKit) send arbitrary model names and fail silently on a job object
(api-compat.md §4.3–4.4). ``/openai/v1/...`` is an alias that is always OpenAI.

Model names: a model this server has ready (``GET /v1/models``) is used as named; any other name
(``whisper-1``, ``gpt-4o-transcribe``, …) means the server's default model. Translation
needs a multilingual model: an English-only default (``*.en``) is replaced by ``base``.

Errors: ``{"error": {"message", "type", "param", "code"}}``; bad input is ``400``
(``BadRequestError``), never a status the SDK retries.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context

from dalston.api import api_key_accepted, services, submission
from dalston.compat import languages, openai_response
from dalston.db.models import JobStatus
from dalston.errors import ApiError
from dalston.options import JobOptions

NATIVE_FIELDS = frozenset(
    {
        "audio_url",
        "speaker_detection",
        "num_speakers",
        "min_speakers",
        "max_speakers",
        "timestamps_granularity",
        "vocabulary",
        "diarize_engine",
        "align_engine",
        "transcribe_engine",
        "beam_size",
    }
)
GRANULARITIES = ("word", "segment")
TRANSLATION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
#: Seconds between SSE comments while a streamed job runs (keeps proxies from timing out).
KEEPALIVE_SECONDS = 5.0


def is_openai_request() -> bool:
    """The routing rule above, for the shared ``POST /v1/audio/transcriptions``."""
    if "respond-async" in request.headers.get("Prefer", "").lower():
        return False
    if NATIVE_FIELDS & set(request.form.keys()):
        return False
    model = (request.form.get("model") or "").strip()
    return bool(model) and model != "auto"


def error(status: int, message: str, code: str | None, param: str | None = None):
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return jsonify(body), status


def _as_openai_error(exc: Exception):
    if isinstance(exc, ApiError):
        status = 400 if exc.status in (415, 422) else exc.status
        return error(status, exc.message, exc.code, exc.field)
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        code = "file_too_large" if exc.code == 413 else "invalid_request"
        return error(exc.code or 400, exc.description or exc.name, code)
    import logging

    logging.getLogger(__name__).exception("unhandled error")
    return error(500, "internal server error", "internal_error")


def _check_key() -> None:
    if not api_key_accepted():
        raise ApiError(401, "invalid_api_key", "Incorrect API key provided")


def _choose_model(name: str, task: str) -> str:
    from dalston.engines import models

    settings = services().settings
    ready = models.is_known_name(name) and models.is_ready(name, settings.model_dir)
    model = name if ready else settings.default_model
    if task == "translate" and model.endswith(".en"):
        if name == model:
            raise ApiError(
                400,
                "model_cannot_translate",
                f"{model} is English-only and cannot translate; use a multilingual model",
                "model",
            )
        model = "base"
    return model


def _form_list(name: str) -> list[str]:
    return [v for v in request.form.getlist(name) + request.form.getlist(f"{name}[]") if v]


def _parse(task: str) -> tuple[JobOptions, dict]:
    """Validate the form: the job's plan and how to answer."""
    form = request.form
    if "file" not in request.files:
        raise ApiError(400, "missing_file", "the audio file is required (multipart 'file')", "file")
    name = (form.get("model") or "").strip()
    if not name:
        raise ApiError(400, "missing_model", "model is required", "model")
    formats = TRANSLATION_FORMATS if task == "translate" else openai_response.FORMATS
    response_format = form.get("response_format") or "json"
    if response_format not in formats:
        raise ApiError(
            400,
            "invalid_response_format",
            f"response_format must be one of {', '.join(formats)}",
            "response_format",
        )
    granularities = tuple(_form_list("timestamp_granularities"))
    for value in granularities:
        if value not in GRANULARITIES:
            raise ApiError(
                400,
                "invalid_timestamp_granularity",
                f"timestamp_granularities must be word or segment, not {value!r}",
                "timestamp_granularities",
            )
    try:
        language = languages.to_whisper(form.get("language") or None)
    except ValueError as exc:
        raise ApiError(400, "invalid_language", str(exc), "language") from exc
    if task == "translate":
        language = None  # translations detect the source language
    temperature = None
    if form.get("temperature"):
        try:
            temperature = float(form["temperature"])
        except ValueError:
            temperature = -1.0
        if not 0.0 <= temperature <= 1.0:
            raise ApiError(
                400, "invalid_temperature", "temperature must be between 0 and 1", "temperature"
            )
    stream = (form.get("stream") or "").lower() == "true"
    if stream and task == "translate":
        raise ApiError(400, "unsupported_parameter", "translations cannot stream", "stream")
    words = response_format == "diarized_json" or (
        response_format == "verbose_json" and "word" in granularities
    )
    include_logprobs = "logprobs" in _form_list("include")
    keywords = _form_list("keywords")
    options = JobOptions(
        model=_choose_model(name, task),
        language=language,
        task=task,
        timestamps_granularity=(
            "word" if (words or include_logprobs) and task == "transcribe" else "segment"
        ),
        # Word logprobs alone need Whisper's words, not forced-aligned times.
        align_engine=None if words else "whisper",
        speaker_detection="diarize" if response_format == "diarized_json" else "none",
        vocabulary=keywords[:100] or None,
        prompt=form.get("prompt") or None,
        temperature=temperature,
    )
    answer = {
        "api": "openai",
        "model": name,
        "task": task,
        "response_format": response_format,
        "granularities": granularities,
        "include_logprobs": include_logprobs,
        "stream": stream,
    }
    return options, answer


def _handle(task: str):
    try:
        _check_key()
        options, answer = _parse(task)
        job = submission.submit_job(options, reply=answer, upload=request.files["file"])
    except Exception as exc:  # every error in OpenAI's shape
        return _as_openai_error(exc)
    timeout = services().settings.openai_sync_timeout
    if answer["stream"]:
        return Response(
            stream_with_context(_stream(job.id, timeout, answer)),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    job = submission.wait_for_job(job.id, timeout)
    try:
        transcript = _finished(job, timeout)
    except ApiError as exc:
        return _as_openai_error(exc)
    body, mimetype = openai_response.render(
        transcript,
        answer["response_format"],
        task=task,
        granularities=answer["granularities"],
        include_logprobs=answer["include_logprobs"],
    )
    return Response(body, mimetype=mimetype)


def _finished(job, timeout: float) -> dict:
    if job is None:
        raise ApiError(404, "job_deleted", "the job was deleted while it ran")
    if not JobStatus(job.status).terminal:
        raise ApiError(
            400,
            "transcription_timeout",
            f"the transcription did not finish within {timeout:.0f} s; it goes on as job "
            f"{job.id}: GET /v1/audio/transcriptions/{job.id} (native API) fetches it",
        )
    if job.status != JobStatus.COMPLETED.value:
        raise submission.job_failure(job)
    return job.result or {}


def _stream(job_id: str, timeout: float, answer: dict):
    """SSE: comments while the job runs, then the transcript's delta and done events."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = submission.wait_for_job(job_id, min(KEEPALIVE_SECONDS, deadline - time.monotonic()))
        if job is None or JobStatus(job.status).terminal or time.monotonic() >= deadline:
            break
        yield ": transcribing\n\n"
    try:
        transcript = _finished(job, timeout)
    except ApiError as exc:
        body = {"type": "error", "error": {"message": exc.message, "code": exc.code}}
        yield openai_response.sse(body)
        return
    yield from openai_response.stream_events(
        transcript, answer["response_format"], answer["include_logprobs"]
    )


def transcriptions():
    """OpenAI ``POST .../audio/transcriptions``."""
    return _handle("transcribe")


def translations():
    """OpenAI ``POST .../audio/translations`` (English text from speech in any language)."""
    return _handle("translate")


def register(app: Flask) -> None:
    """Mount translations on ``/v1`` and both endpoints under the ``/openai/v1`` alias.

    ``POST /v1/audio/transcriptions`` itself belongs to the native blueprint, which hands
    OpenAI requests to :func:`transcriptions`.
    """
    bp = Blueprint("openai", __name__)
    bp.add_url_rule("/v1/audio/translations", view_func=translations, methods=["POST"])
    bp.add_url_rule(
        "/openai/v1/audio/transcriptions",
        endpoint="alias_transcriptions",
        view_func=transcriptions,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/openai/v1/audio/translations",
        endpoint="alias_translations",
        view_func=translations,
        methods=["POST"],
    )
    bp.register_error_handler(Exception, _as_openai_error)
    app.register_blueprint(bp)
