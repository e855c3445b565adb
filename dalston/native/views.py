"""Native REST API: ``/v1/audio/transcriptions`` — submit, get, list, cancel, delete, export.

Submission is asynchronous: the upload is checked at the edge (non-empty, decodable audio,
size limit, known model, allowed URL), stored, the job row committed and the canvas
dispatched; the answer is ``201 {id, status, created_at}``. Every error has the shape
``{"error": {"code", "message", "field"?}}`` (``errors.py``).

``POST /v1/audio/transcriptions`` is shared with the OpenAI API, so it is not on this
blueprint: ``dalston.app`` routes it and calls :func:`create_job` for a native request (the
rule is in ``dalston.routing``).
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request, send_file

from dalston import engines, exports
from dalston.api import db, services, submission
from dalston.api.requests import decode_cursor, encode_cursor, load_or_422
from dalston.auth import current_tenant
from dalston.db import queries
from dalston.db.models import Job, JobStatus
from dalston.engines import models
from dalston.errors import ApiError
from dalston.native.render import job_summary, job_view
from dalston.native.schemas import (
    job_create_schema,
    job_created_schema,
    job_created_with_webhook_schema,
    job_get_query_schema,
    job_list_query_schema,
    job_list_schema,
    job_schema,
    webhook_delivery_list_schema,
)
from dalston.options import CHUNKED_ENGINE, WHOLE_FILE_ENGINES, JobOptions
from dalston.storage import keys
from dalston.webhooks import events, guard
from dalston.webhooks import store as webhook_store

bp = Blueprint("jobs", __name__, url_prefix="/v1/audio/transcriptions")


def get_job_or_404(job_id: str) -> Job:
    job = queries.find_job(db(), job_id, current_tenant())
    if job is None:  # unknown, or another tenant's: the same answer
        raise ApiError(404, "job_not_found", f"no transcription job with id {job_id!r}")
    return job


def _check_engine(name: str | None, known, field: str) -> None:
    """422 ``unknown_engine`` when a request names an engine this server does not have."""
    if name is not None and name not in known:
        raise ApiError(
            422,
            "unknown_engine",
            f"unknown {field.split('_')[0]} engine {name!r}; "
            f"choose one of {', '.join(sorted(known))}",
            field,
        )


def _job_options(data: dict, model: str) -> JobOptions:
    if data["speaker_detection"] == "per_channel" and any(
        data.get(k) is not None for k in ("num_speakers", "min_speakers", "max_speakers")
    ):
        raise ApiError(
            422,
            "validation_error",
            "per_channel jobs take one speaker per channel; "
            "num_speakers, min_speakers and max_speakers do not apply",
            "num_speakers",
        )
    _check_engine(data["diarize_engine"], engines.names("diarizer"), "diarize_engine")
    _check_engine(data.get("align_engine"), engines.names("aligner"), "align_engine")
    _check_engine(
        data.get("transcribe_engine"),
        engines.names("transcriber") + engines.names("pipeline"),
        "transcribe_engine",
    )
    whisperx_full = data.get("transcribe_engine") in WHOLE_FILE_ENGINES
    if whisperx_full and data["speaker_detection"] == "per_channel":
        raise ApiError(
            422,
            "unsupported_option",
            "transcribe_engine=whisperx-full transcribes the mono mix in one task; "
            "speaker_detection=per_channel needs transcribe_engine=faster_whisper",
            "speaker_detection",
        )
    language = data.get("language")
    return JobOptions(
        model=model,
        language=(None if not language or language.lower() == "auto" else language.lower()),
        timestamps_granularity=data["timestamps_granularity"],
        speaker_detection=data["speaker_detection"],
        diarize_engine=data["diarize_engine"],
        align_engine=data.get("align_engine"),
        transcribe_engine=data.get("transcribe_engine") or CHUNKED_ENGINE,
        num_speakers=data.get("num_speakers"),
        min_speakers=data.get("min_speakers"),
        max_speakers=data.get("max_speakers"),
        vocabulary=data.get("vocabulary"),
        prompt=data.get("prompt"),
        temperature=data.get("temperature"),
        beam_size=data.get("beam_size") or 5,
    )


def create_job():
    """Submit a transcription job (multipart: ``file`` or ``audio_url`` plus options).

    ``POST /v1/audio/transcriptions`` for a native request: ``dalston.routing`` has the rule
    that sends the others to OpenAI (in short: a ``model`` and no native opt-in).
    """
    settings = services().settings
    data = load_or_422(job_create_schema, request.form.to_dict())
    upload = request.files.get("file")
    if upload is not None and data["audio_url"]:
        raise ApiError(
            400, "conflicting_input", "send either file or audio_url, not both", "audio_url"
        )
    if upload is None and not data["audio_url"]:
        raise ApiError(
            400,
            "missing_input",
            "send the audio as a multipart field 'file', or an audio_url",
            "file",
        )
    model = data["model"] if data["model"] not in (None, "auto") else settings.default_model
    if not models.is_known_name(model):
        raise ApiError(
            422,
            "unknown_model",
            f"unknown model {model!r}; GET /v1/models lists the models this server offers",
            "model",
        )
    options = _job_options(data, model)
    webhook_url = data["webhook_url"]
    if webhook_url:
        try:
            guard.check(
                webhook_url,
                allow_private=settings.allow_private_urls,
                allow_hosts=settings.webhook_allow_hosts,
                name="webhook_url",
            )
        except guard.Refused as exc:
            raise ApiError(400, "url_not_allowed", str(exc), "webhook_url") from exc
    own: list = []

    def add_webhook(session, job):
        own.append(
            webhook_store.create_endpoint(
                session,
                url=webhook_url,
                tenant_id=webhook_store.request_tenant(),
                job_id=job.id,
            )
        )

    job = submission.submit_job(
        options,
        upload=upload,
        audio_url=data["audio_url"],
        notify_task=events.NOTIFY_TASK,
        retention_days=data["retention"],
        before_dispatch=add_webhook if webhook_url else None,
    )
    if own:
        created = {"id": job.id, "status": job.status, "created_at": job.created_at}
        body = job_created_with_webhook_schema.dump(dict(created, webhook_secret=own[0].secret))
        return jsonify(body), 201
    return jsonify(job_created_schema.dump(job)), 201


@bp.get("/<job_id>")
def get_job(job_id: str):
    """The job; ``wait=S`` makes it a long poll, answered as soon as the job has ended.

    The wait wakes on the job's end (``dalston.jobevents``), so a client learns of it at
    once instead of polling; the request's transaction is closed while it waits.
    """
    args = load_or_422(job_get_query_schema, request.args.to_dict())
    if args["wait"] <= 0:
        return jsonify(job_schema.dump(job_view(get_job_or_404(job_id))))
    with submission.EndWatch(job_id) as watch:
        job = get_job_or_404(job_id)
        if not JobStatus(job.status).terminal:
            db().rollback()  # no transaction held open while waiting
            watch.wait(args["wait"])
            db().expire_all()  # read the job again, not the identity map's copy
            job = get_job_or_404(job_id)
    return jsonify(job_schema.dump(job_view(job)))


@bp.get("")
def list_jobs():
    """Jobs, newest first, with cursor pagination."""
    args = load_or_422(job_list_query_schema, request.args.to_dict())
    query = (
        queries.visible_jobs(current_tenant())
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(args["limit"] + 1)
    )
    if args["status"]:
        query = query.where(Job.status == args["status"])
    if args["cursor"]:
        created, job_id = decode_cursor(args["cursor"])
        if db().bind.dialect.name == "sqlite":  # SQLite stores naive datetimes
            created = created.replace(tzinfo=None)
        query = query.where(
            sa.or_(Job.created_at < created, sa.and_(Job.created_at == created, Job.id < job_id))
        )
    jobs = list(db().scalars(query))
    has_more = len(jobs) > args["limit"]
    jobs = jobs[: args["limit"]]
    page = {
        "jobs": [job_summary(j) for j in jobs],
        "cursor": encode_cursor(jobs[-1]) if has_more else None,
        "has_more": has_more,
    }
    return jsonify(job_list_schema.dump(page))


@bp.post("/<job_id>/cancel")
def cancel_job(job_id: str):
    """Cancel a pending or running job; its queued and running tasks are revoked."""
    job = get_job_or_404(job_id)
    # Read before cancelling: a job with no task id yet is cancelled all the same, and
    # must not be answered "already cancelled".
    was_terminal = JobStatus(job.status).terminal
    session = db()
    task_ids = queries.cancel_job(session, job.id)
    session.commit()
    session.refresh(job)
    if was_terminal or job.status != JobStatus.CANCELLED.value:  # (it ended meanwhile)
        raise ApiError(409, "job_not_cancellable", f"the job is already {job.status}")
    if task_ids:
        # Queued tasks are dropped when a worker receives them; a running transcription
        # notices the cancellation at its next progress report and stops.
        services().celery.control.revoke(task_ids)
    submission.job_ended(job.id)  # metrics, retention, the transcription.cancelled webhook
    return jsonify({"id": job.id, "status": job.status, "message": "the job was cancelled"})


@bp.delete("/<job_id>")
def delete_job(job_id: str):
    """Delete a finished job: its rows and every stored object under ``jobs/<id>/``."""
    job = get_job_or_404(job_id)
    if not JobStatus(job.status).terminal:
        raise ApiError(
            409,
            "job_not_terminal",
            f"the job is {job.status}; cancel it (POST .../{job_id}/cancel) before deleting it",
        )
    submission.delete_job(job)
    return Response(status=204)


@bp.get("/<job_id>/export/<fmt>")
def export_job(job_id: str, fmt: str):
    """The transcript as txt, json, srt or vtt.

    Options: max_line_length, max_lines, include_speakers.
    """
    job = get_job_or_404(job_id)
    if job.status != JobStatus.COMPLETED.value:
        raise ApiError(
            409, "job_not_completed", f"the job is {job.status}; exports exist once it is completed"
        )
    try:
        options = exports.export_options(request.args)
    except exports.ExportOptionError as exc:
        raise ApiError(422, "validation_error", str(exc), exc.field) from exc
    try:
        fmt = exports.normalize_format(fmt)
    except ValueError as exc:
        raise ApiError(
            404, "unknown_format", f"unknown export format {fmt!r}; use txt, json, srt or vtt"
        ) from exc
    try:
        body, mimetype = exports.render(job.result, fmt, **options)
    except ValueError as exc:
        raise ApiError(409, "export_unavailable", str(exc)) from exc
    return Response(body, mimetype=mimetype)


@bp.get("/<job_id>/audio")
def job_audio(job_id: str):
    """The job's audio, for a player (the console's): the prepared 16 kHz mono WAV once
    prepare has run (every browser plays it, whatever the upload's container), else the
    stored source as it was sent. Answers ``Range`` requests (``206``), so a player can seek.

    The object is read whole from storage for each request; prepared audio is 115 MB an
    hour, which a player asks for once and then in ranges.
    """
    job = get_job_or_404(job_id)
    if job.purged_at is not None:
        raise ApiError(
            410,
            "purged",
            f"job {job_id!r}'s audio was removed by its retention policy "
            f"(retention={job.retention_days} days); its metadata and transcript remain",
        )
    store = services().store
    # The source when prepare kept no copy: it was the prepared WAV already, or prepare has
    # not run yet.
    for key in (keys.prepared_audio(job.id), keys.source(job.id)):
        try:
            data = store.get_bytes(key)
        except FileNotFoundError:
            continue
        wav = key == keys.prepared_audio(job.id) or (data[:4] == b"RIFF" and data[8:12] == b"WAVE")
        return send_file(
            io.BytesIO(data),
            mimetype="audio/wav" if wav else "application/octet-stream",
            conditional=True,
            download_name=f"{job.id}.wav" if wav else job.id,
            max_age=0,
        )
    raise ApiError(
        404, "audio_not_found", f"job {job_id!r} has no stored audio (it may have been deleted)"
    )


@bp.get("/<job_id>/webhooks")
def job_webhooks(job_id: str):
    """The job's webhook delivery log: one entry per attempt, oldest first."""
    job = get_job_or_404(job_id)
    rows = [webhook_store.delivery_view(r) for r in webhook_store.deliveries(db(), job.id)]
    return jsonify(webhook_delivery_list_schema.dump({"deliveries": rows}))
