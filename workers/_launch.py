"""Start a Celery worker for one queue, with that queue's pool and concurrency defaults.

Extra command-line arguments are passed to ``celery worker`` and win over the defaults,
e.g. ``python -m workers.transcribe --concurrency 2 --pool prefork``. ``DALSTON_WORKER_ARGS``
adds arguments from the environment (compose, Kubernetes).
"""

from __future__ import annotations

import os
import shlex
import sys

#: queue → (pool, concurrency, extra args). GPU stages run one solo process per GPU: CUDA
#: does not survive a fork, and a model loaded once stays warm.
DEFAULTS = {
    "prepare": ("prefork", 2, ["--max-tasks-per-child", "50"]),
    "transcribe": ("solo", 1, []),
    "align": ("solo", 1, []),
    "diarize": ("solo", 1, []),
    "whisperx_full": ("solo", 1, []),
    "merge": ("prefork", 2, []),
}


def worker_argv(queue: str, extra: list[str]) -> list[str]:
    pool, concurrency, more = DEFAULTS[queue]
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
        os.environ.get("DALSTON_LOG_LEVEL", "INFO"),
        "-E",
        *more,
    ]
    return argv + shlex.split(os.environ.get("DALSTON_WORKER_ARGS", "")) + extra


def main(queue: str) -> None:
    from dalston.celery_app import app

    app.worker_main(worker_argv(queue, sys.argv[1:]))
