"""Gunicorn settings for the Dalston API.

Run as ``gunicorn -c deploy/gunicorn.conf.py "dalston.app:create_app()"`` (compose's api
service, the API image's default command).

Threads, not async workers: each flask-sock WebSocket (the realtime API) holds one thread
for as long as the connection is open (flask-sock ``docs/web_servers.rst``), so one
process serves at most ``threads`` sockets and requests at once. Gunicorn's own knobs
override these: ``WEB_CONCURRENCY`` for the process count, ``GUNICORN_CMD_ARGS`` for
anything else (e.g. ``--threads 32``).

It listens where ``DALSTON_HOST``/``DALSTON_PORT`` say: loopback by default (``make api``),
all interfaces in the containers, which set ``DALSTON_HOST=0.0.0.0``.

``/metrics`` adds up every process's samples when ``PROMETHEUS_MULTIPROC_DIR`` names a
directory (emptied before start: compose and Kubernetes mount an empty volume there);
``child_exit`` tells prometheus-client when a worker process is gone.
"""

import os

from dalston.config import get_settings

_settings = get_settings()
bind = f"{_settings.api_host}:{_settings.api_port}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 16
# gthread's timeout is the worker heartbeat, not a request limit, so long uploads and
# long-lived WebSockets are not cut by it.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"


def post_worker_init(worker):
    """Each API process logs through ``dalston.logging_setup`` (``DALSTON_LOG_FORMAT``)."""
    from dalston import logging_setup
    from dalston.config import get_settings

    settings = get_settings()
    logging_setup.configure(settings.log_format, settings.log_level)


def child_exit(server, worker):
    """prometheus-client multiprocess mode: a dead worker's live gauges stop counting."""
    from dalston.config import get_settings

    if get_settings().metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
