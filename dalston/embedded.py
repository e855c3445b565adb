"""Embedded mode: the whole of Dalston in one process, with no server to install.

``make run`` starts this. It uses the same canvas and the same task code as distributed
mode, with serverless stand-ins chosen by environment variables before anything imports
the Celery app: SQLite for the database, a local directory for storage, Celery's in-memory
broker and result backend, one worker thread consuming every queue, and a realtime worker
thread serving WebSocket sessions over an in-memory relay. Jobs that were
unfinished when the process last stopped are sent again at start-up (stages are
idempotent), so nothing is lost across a restart.

Variables the caller sets win: with ``DALSTON_DATABASE_URL`` or ``DALSTON_S3_BUCKET`` set,
embedded mode uses those.
"""

from __future__ import annotations

import logging
import shlex
import socket
import sys
import threading
from pathlib import Path

from dalston.config import apply_embedded_defaults
from dalston.pipeline.stages import ALL_QUEUES

log = logging.getLogger("dalston.embedded")

#: The speech sample the package ships (``tests/bench/sample.py`` made it; README has its text).
SAMPLE = Path(__file__).resolve().parent / "data" / "sample.flac"
DEFAULT_URL = "http://127.0.0.1:8000"


def _shown(path: Path) -> str:
    """``path`` as a user would type it here: relative when it is under the working directory."""
    try:
        return shlex.quote(str(path.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))


def cli_command() -> str:
    """How to run the ``dalston`` client installed beside this Python (``.venv/bin/dalston``)."""
    script = Path(sys.executable).parent / "dalston"
    if script.exists():
        return _shown(script)
    return f"{shlex.quote(sys.executable)} -m dalston.cli"


def banner(base: str, settings) -> str:
    """The start-up message: where Dalston listens and lines that transcribe the shipped sample
    (they name files in the package, so they work from a fresh clone)."""
    sample = _shown(SAMPLE)
    url = "" if base == DEFAULT_URL else f" --url {base}"
    return (
        f"\nDalston (embedded mode) is listening on {base}\n"
        f"  data: {settings.data_dir}   default model: {settings.default_model}\n"
        f"  web console: {base}/console/\n\n"
        "Transcribe the sample that ships with Dalston:\n"
        f"  curl -s -F file=@{sample} -F model=whisper-1 -F response_format=text "
        f"{base}/v1/audio/transcriptions\n"
        f"  {cli_command()}{url} transcribe {sample}\n"
        "Or submit a native job (201 and its id), then poll it:\n"
        f"  curl -s -F file=@{sample} {base}/v1/audio/transcriptions\n"
        f"  curl -s {base}/v1/audio/transcriptions/<id>\n"
    )


def start_worker(celery, hostname: str | None = None):
    """Start one worker thread consuming every queue; returns the WorkController."""
    worker = celery.WorkController(
        pool_cls="solo",
        concurrency=1,
        queues=list(ALL_QUEUES),
        hostname=hostname or f"embedded@{socket.gethostname()}",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel=logging.INFO,
    )
    thread = threading.Thread(target=worker.start, name="dalston-worker", daemon=True)
    thread.start()
    return worker


def start_realtime_worker(settings):
    """The realtime worker in this process, on the in-memory relay the API also uses (the
    same ``RealtimeWorker`` as ``python -m workers.realtime``); None if its model is missing."""
    from dalston.errors import ModelNotAvailable
    from dalston.relay import make_relay
    from dalston.streaming.worker import RealtimeWorker

    relay = make_relay(settings.realtime_url, settings.realtime_heartbeat_timeout)
    try:
        return RealtimeWorker(settings, relay, worker_id="realtime-embedded").start()
    except ModelNotAvailable as exc:
        log.warning("realtime transcription is off: %s", exc.message)
        return None


def start_retention_timer(settings) -> threading.Thread:
    """Embedded mode's stand-in for the beat's retention purge: every
    ``DALSTON_RETENTION_INTERVAL_SECONDS``, in a daemon thread."""
    from dalston import retention

    stop = threading.Event()

    def loop():
        while not stop.wait(settings.retention_interval):
            try:
                retention.purge_due(settings)
            except Exception:
                log.exception(
                    "retention purge failed; trying again in %.0f s",
                    settings.retention_interval,
                )

    thread = threading.Thread(target=loop, name="dalston-retention", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    settings = apply_embedded_defaults()
    from dalston import logging_setup

    logging_setup.configure(settings.log_format, "INFO")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # Imported only now: the Celery app reads its broker from the settings just applied.
    from werkzeug.serving import make_server

    from dalston.app import create_app
    from dalston.celery_app import app as celery
    from dalston.db.migrate import upgrade
    from dalston.db.session import session_scope
    from dalston.engines import models
    from dalston.pipeline.dispatch import resubmit_unfinished

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
    if settings.default_model == "base":
        models.join_base(settings.model_dir)
    start_worker(celery)
    start_realtime_worker(settings)
    start_retention_timer(settings)
    with session_scope(settings.database_url) as session:
        resent = resubmit_unfinished(celery, session, settings.stage_time_limits)
    if resent:
        log.info("resent what %d unfinished jobs still needed", resent)

    api = create_app()
    server = make_server(settings.api_host, settings.api_port, api, threaded=True)
    base = f"http://{settings.api_host}:{settings.api_port}"
    print(banner(base, settings), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
