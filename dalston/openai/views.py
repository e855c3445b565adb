"""OpenAI-compatible ``/v1/audio/transcriptions`` and ``/v1/audio/translations``.

Both are synchronous, as OpenAI's are: the job runs on the pipeline and the request waits
for it (``DALSTON_OPENAI_SYNC_TIMEOUT``, 580 s by default, under the SDK's 600 s timeout).

``POST /v1/audio/transcriptions`` is shared with the native API: ``dalston.routing`` holds
the rule that makes a request OpenAI's (in short: a ``model`` and no native opt-in, whatever
the model name), and ``dalston.app`` calls :func:`transcriptions` for those. ``/openai/v1/...``
is an alias that is always OpenAI.

Model names: a model this server has ready (``GET /v1/models``) is used as named; any other name
(``whisper-1``, ``gpt-4o-transcribe``, …) means the server's default model. Translation
needs a multilingual model: an English-only default (``*.en``) is replaced by ``base``.

Errors: ``{"error": {"message", "type", "param", "code"}}`` (``errors.py``); bad input is
``400`` (``BadRequestError``), never a status the SDK retries. The API key is checked for
every route by ``dalston.auth``.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request, stream_with_context

from dalston.api import services, submission
from dalston.db.models import JobStatus
from dalston.engines import models
from dalston.errors import ApiError
from dalston.openai import render, schemas
from dalston.options import JobOptions

#: Seconds between SSE comments while a streamed job runs (keeps proxies from timing out).
KEEPALIVE_SECONDS = 5.0

bp = Blueprint("openai", __name__)


def _choose_model(name: str, task: str) -> str:
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


def _parse(task: str) -> tuple[JobOptions, dict]:
    """Validate the form: the job's plan and how to answer."""
    if "file" not in request.files:
        raise ApiError(400, "missing_file", "the audio file is required (multipart 'file')", "file")
    form = schemas.load(request.form, task)
    # Translations detect the source language.
    language = None if task == "translate" else form["language"]
    if form["stream"] and task == "translate":
        raise ApiError(400, "unsupported_parameter", "translations cannot stream", "stream")
    response_format = form["response_format"]
    granularities = tuple(form["timestamp_granularities"])
    words = response_format == "diarized_json" or (
        response_format == "verbose_json" and "word" in granularities
    )
    include_logprobs = "logprobs" in form["include"]
    options = JobOptions(
        model=_choose_model(form["model"], task),
        language=language,
        task=task,
        timestamps_granularity=(
            "word" if (words or include_logprobs) and task == "transcribe" else "segment"
        ),
        # Word logprobs alone need Whisper's words, not forced-aligned times.
        align_engine=None if words else "whisper",
        speaker_detection="diarize" if response_format == "diarized_json" else "none",
        vocabulary=form["keywords"][:100] or None,
        prompt=form["prompt"],
        temperature=form["temperature"],
    )
    answer = {
        "api": "openai",
        "model": form["model"],
        "task": task,
        "response_format": response_format,
        "granularities": granularities,
        "include_logprobs": include_logprobs,
        "stream": form["stream"],
    }
    return options, answer


def _handle(task: str):
    options, answer = _parse(task)
    job = submission.submit_job(options, reply=answer, upload=request.files["file"])
    timeout = services().settings.openai_sync_timeout
    if answer["stream"]:
        return Response(
            stream_with_context(_stream(job.id, timeout, answer)),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    job = submission.wait_for_job(job.id, timeout)
    transcript = _finished(job, timeout)
    body, mimetype = render.render(
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
        yield render.sse(body)
        return
    yield from render.stream_events(
        transcript, answer["response_format"], answer["include_logprobs"]
    )


def transcriptions():
    """OpenAI ``POST .../audio/transcriptions``."""
    return _handle("transcribe")


def translations():
    """OpenAI ``POST .../audio/translations`` (English text from speech in any language)."""
    return _handle("translate")


# Translations on /v1, both endpoints under the /openai/v1 alias. POST /v1/audio/transcriptions
# itself is routed by dalston.app, which calls transcriptions() for OpenAI requests.
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
