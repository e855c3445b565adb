"""Start a Celery worker for one queue, with that stage's pool and concurrency defaults.

The defaults come from the stage table (``dalston.pipeline.stages.STAGES``; queues that
are not stages, such as ``webhooks``, from ``SERVICE_QUEUES``). Extra
command-line arguments are passed to ``celery worker`` and win over the defaults, e.g.
``python -m workers.transcribe --concurrency 2 --pool prefork``. ``DALSTON_WORKER_ARGS``
adds arguments from the environment (compose, Kubernetes).
"""

from __future__ import annotations

import shlex
import sys

from dalston import logging_setup
from dalston.celery_app import app
from dalston.config import get_settings
from dalston.pipeline.stages import BY_NAME, SERVICE_QUEUES


def worker_argv(queue: str, extra: list[str]) -> list[str]:
    if queue in BY_NAME:
        spec = BY_NAME[queue]
        pool, concurrency, args = spec.pool, spec.concurrency, spec.worker_args
    else:
        (pool, concurrency), args = SERVICE_QUEUES[queue], ()
    settings = get_settings()
    argv = [
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        settings.log_level,
        *args,
    ]
    return argv + shlex.split(settings.worker_args) + extra


def main(queue: str) -> None:
    logging_setup.install_celery(get_settings())
    app.worker_main(worker_argv(queue, sys.argv[1:]))
