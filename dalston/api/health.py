"""Operations endpoints: liveness, system status, models, the OpenAPI document."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from dalston.api import db, services
from dalston.api.openapi import build_spec
from dalston.engines import models

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Liveness: the process answers. Dependencies are reported by /v1/system/status."""
    return jsonify({"status": "ok"})


def _check(fn) -> dict:
    try:
        fn()
        return {"ok": True}
    except Exception as exc:  # report, never raise: this endpoint exists to show failures
        return {"ok": False, "error": f"{exc.__class__.__name__}: {str(exc)[:300]}"}


def queue_depths(celery) -> dict[str, int | None]:
    """Messages waiting in each stage queue (not counting those a worker holds)."""
    depths: dict[str, int | None] = {}
    with celery.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        for queue in celery.conf.task_queues:
            # Declaring is idempotent (workers do the same); a passive declare fails on Redis
            # for a queue that has never held a message.
            depths[queue.name] = queue(channel).queue_declare().message_count
    return depths


def workers_by_queue(celery, timeout: float = 1.0) -> dict[str, list[str]]:
    """Live workers (answering a broadcast within ``timeout``) for each queue they consume."""
    replies = celery.control.inspect(timeout=timeout).active_queues() or {}
    out: dict[str, list[str]] = {q.name: [] for q in celery.conf.task_queues}
    for worker, queues in sorted(replies.items()):
        for queue in queues or []:
            out.setdefault(queue["name"], []).append(worker)
    return out


@bp.get("/v1/system/status")
def system_status():
    """Database, broker and storage reachability; depth and live workers of every queue."""
    svc = services()
    celery = svc.celery
    database = _check(lambda: db().execute(sa.text("SELECT 1")))
    storage = _check(svc.store.check)
    depths: dict = {}
    workers: dict = {}

    def _broker():
        depths.update(queue_depths(celery))
        workers.update(workers_by_queue(celery))

    broker = _check(_broker)
    queues = [
        {"name": q.name, "depth": depths.get(q.name), "workers": workers.get(q.name, [])}
        for q in celery.conf.task_queues
    ]
    ok = database["ok"] and broker["ok"] and storage["ok"]
    body = {
        "status": "ok" if ok else "degraded",
        "database": database,
        "broker": broker,
        "storage": dict(storage, kind="s3" if svc.settings.uses_s3 else "local"),
        "queues": queues,
    }
    return jsonify(body), 200 if ok else 503


@bp.get("/v1/models")
def list_models():
    """Models a request can name, and whether each is ready on this server."""
    settings = services().settings
    return jsonify(
        {
            "default": settings.default_model,
            "models": models.list_models(settings.model_dir, settings.default_model),
        }
    )


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document: these routes and the parts the API families describe."""
    return jsonify(build_spec(services().openapi))
