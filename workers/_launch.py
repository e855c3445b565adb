"""Start a Celery worker for one queue, with that stage's pool and concurrency defaults.

The defaults come from the stage table (``dalston.pipeline.stages.STAGES``). Extra
command-line arguments are passed to ``celery worker`` and win over the defaults, e.g.
``python -m workers.transcribe --concurrency 2 --pool prefork``. ``DALSTON_WORKER_ARGS``
adds arguments from the environment (compose, Kubernetes).
"""

from __future__ import annotations

import shlex
import sys

from dalston.celery_app import app
from dalston.config import get_settings
from dalston.pipeline.stages import BY_NAME


def worker_argv(queue: str, extra: list[str]) -> list[str]:
    spec = BY_NAME[queue]
    settings = get_settings()
    argv = [
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "--pool",
        spec.pool,
        "--concurrency",
        str(spec.concurrency),
        "--loglevel",
        settings.log_level,
        "-E",
        *spec.worker_args,
    ]
    return argv + shlex.split(settings.worker_args) + extra


def main(queue: str) -> None:
    app.worker_main(worker_argv(queue, sys.argv[1:]))
