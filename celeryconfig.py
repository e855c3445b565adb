"""The only Celery configuration of Dalston.

Read by ``dalston.celery_app`` (``app.config_from_object("celeryconfig")``) in the API,
in every worker and in Flower. It reads nothing but ``os.environ``, so
``python -m celeryconfig`` is a syntax and environment check.

Queues are declared once, here: one queue per pipeline stage. ``task_routes`` maps each
stage task (``dalston.<stage>``) to its queue and ``task_create_missing_queues`` is off, so
a misspelt queue raises instead of silently creating a queue nobody consumes. Celery's own
bookkeeping tasks (none with the Redis result backend; ``celery.chord_unlock`` with others)
go to the ``merge`` queue, which is cheap CPU work.

Settings that matter for minutes-long GPU tasks (see design.md §3):

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
  its task finished, so a worker that dies mid-task (OOM, SIGKILL, a lost machine) leaves
  the message to be delivered again. Stage functions are idempotent, and each stage row
  counts its attempts so a task that keeps killing its worker is failed, not looped.
* ``worker_prefetch_multiplier = 1``: a busy worker does not hoard jobs it cannot start.
* ``visibility_timeout``: Redis redelivers an unacknowledged message after this long. It
  must be longer than the slowest task, or a healthy long task is run twice.
"""

import os

from kombu import Exchange, Queue

#: The pipeline stages, in canvas order; each has one queue and one task ``dalston.<stage>``.
#: ``whisperx_full`` replaces transcribe, align and diarize for jobs that ask for the
#: whisperx-full engine (one GPU task for the whole file).
STAGE_QUEUES = ("prepare", "transcribe", "align", "diarize", "whisperx_full", "merge")

_redis_default = "redis://127.0.0.1:6379/0"

broker_url = os.environ.get("DALSTON_BROKER_URL", _redis_default)
# Redis as the result backend lets chords count completions atomically instead of polling
# with ``celery.chord_unlock``.
result_backend = os.environ.get("DALSTON_RESULT_BACKEND", broker_url)

_exchange = Exchange("dalston", type="direct")
task_queues = tuple(Queue(q, _exchange, routing_key=q) for q in STAGE_QUEUES)
task_default_queue = "merge"
task_default_exchange = "dalston"
task_default_routing_key = "merge"
task_create_missing_queues = False
task_routes = {f"dalston.{q}": {"queue": q, "routing_key": q} for q in STAGE_QUEUES}

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_track_started = True
task_send_sent_event = True
worker_send_task_events = True

broker_transport_options = {
    # Longer than the slowest stage (a multi-hour file on a slow CPU worker).
    "visibility_timeout": int(os.environ.get("DALSTON_VISIBILITY_TIMEOUT", 6 * 3600)),
    # How often a worker sweeps for unacknowledged messages whose visibility timeout ran
    # out (a task whose worker died): every interval × throttle seconds.
    "unacked_restore_interval": int(os.environ.get("DALSTON_RESTORE_INTERVAL", 10)),
    "unacked_restore_throttle": int(os.environ.get("DALSTON_RESTORE_THROTTLE", 6)),
}
result_backend_transport_options = {
    "visibility_timeout": broker_transport_options["visibility_timeout"]
}

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_expires = 24 * 3600
broker_connection_retry_on_startup = True
worker_hijack_root_logger = False
worker_cancel_long_running_tasks_on_connection_loss = False

imports = ("dalston.tasks", "dalston.elevenlabs.webhook")

if __name__ == "__main__":  # pragma: no cover - a manual check
    print(
        f"broker: {broker_url}\nresult backend: {result_backend}\nqueues: {', '.join(STAGE_QUEUES)}"
    )
