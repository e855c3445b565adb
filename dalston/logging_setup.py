"""The one logging setup of Dalston: text or JSON lines, with the job and tenant on each.

``DALSTON_LOG_FORMAT=json`` writes one JSON object per line (``ts``, ``level``,
``logger``, ``message``, then the context: ``job_id``, ``tenant_id``, ``task``,
``task_id``, ``request_id``, ``method``, ``path``, and ``exc`` for a traceback);
``text`` (the default) writes the usual line with the context appended in brackets.

The context is a :mod:`contextvars` dict, so threads (gunicorn's gthread, the threads
pool) and requests do not see each other's:

* the API (:func:`install_flask`): each request binds its method, path, a request id, the
  tenant the authentication hook found and the job id in the URL;
* every Celery worker (:func:`install_celery`, called by ``workers/_launch.py``): each
  task binds its name, task id, its job id (the first argument of every Dalston task) and
  that job's tenant. Celery's own logging setup is replaced (``setup_logging`` signal).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import logging
import uuid

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("dalston_log_context")
FIELDS = ("job_id", "tenant_id", "task", "task_id", "request_id", "method", "path")
_HANDLER_NAME = "dalston"


def bind(**fields) -> None:
    """Add ``fields`` (those not None) to this context's log lines."""
    current = _context.get({})
    _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})


def clear() -> None:
    _context.set({})


def context() -> dict:
    return dict(_context.get({}))


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.dalston_context = _context.get({})
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "dalston_context", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = getattr(record, "dalston_context", None) or {}
        shown = " ".join(f"{k}={ctx[k]}" for k in ("job_id", "tenant_id", "task") if k in ctx)
        return f"{line} [{shown}]" if shown else line


def configure(log_format: str = "text", level: str | int = "INFO") -> None:
    """Send the root logger's records to stderr in ``log_format``, with the context."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def install_flask(app) -> None:
    """Bind each request's context; the authentication hook runs first (it sets the tenant)."""
    from flask import g, request

    @app.before_request
    def _bind_request():
        clear()
        args = request.view_args or {}
        bind(
            request_id=request.headers.get("X-Request-Id") or uuid.uuid4().hex,
            method=request.method,
            path=request.path,
            tenant_id=g.get("tenant_id"),
            job_id=args.get("job_id") or args.get("transcription_id"),
        )

    @app.teardown_request
    def _clear_request(_exc):
        clear()


def _job_tenant(settings, job_id: str) -> str | None:
    """The tenant of a job, where jobs have tenants (the keys migration).

    A job's tenant never changes, so each process reads it once per job: a job's chunk
    tasks after the first add no query to their log context.
    """
    return _tenant_of(settings.database_url, job_id)


@functools.lru_cache(maxsize=4096)
def _tenant_of(database_url: str, job_id: str) -> str | None:
    from dalston.db.models import Job

    column = getattr(Job, "tenant_id", None)
    if column is None:
        return None
    import sqlalchemy as sa

    from dalston.db.session import session_scope

    with session_scope(database_url) as session:
        return session.scalar(sa.select(column).where(Job.id == job_id))


def install_celery(settings) -> None:
    """Configure a worker's logging (Celery's ``setup_logging``) and each task's context;
    with ``DALSTON_WORKER_METRICS_PORT``, serve the worker's ``/metrics`` too (a worker on a
    host whose API cannot read its ``PROMETHEUS_MULTIPROC_DIR``)."""
    from celery import signals

    def _setup(loglevel=None, **_kwargs):
        configure(settings.log_format, loglevel or settings.log_level)

    def _prerun(task_id=None, task=None, args=None, **_kwargs):
        clear()
        job_id = args[0] if args and isinstance(args[0], str) else None
        tenant = None
        if job_id is not None:
            try:
                tenant = _job_tenant(settings, job_id)
            except Exception:  # the database is down: the task itself will say so
                tenant = None
        bind(
            task=getattr(task, "name", None),
            task_id=task_id,
            job_id=job_id,
            tenant_id=tenant,
        )

    def _postrun(**_kwargs):
        clear()

    def _child_exit(pid=None, **_kwargs):
        if settings.metrics_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)

    def _serve_metrics(**_kwargs):
        if settings.worker_metrics_port:
            from dalston.metrics import exposition

            exposition.serve(settings.worker_metrics_port, settings.metrics_dir)

    signals.setup_logging.connect(_setup, weak=False)
    signals.worker_init.connect(_serve_metrics, weak=False)
    signals.task_prerun.connect(_prerun, weak=False)
    signals.task_postrun.connect(_postrun, weak=False)
    signals.worker_process_shutdown.connect(_child_exit, weak=False)
