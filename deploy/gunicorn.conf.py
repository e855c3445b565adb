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
