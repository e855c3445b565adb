"""The only Celery configuration of Dalston.

Read by ``dalston.celery_app`` (``app.config_from_object("celeryconfig")``) in the API,
in every worker and in Flower. Its settings come from ``dalston.config`` (the one reader
of the environment) and its queues from the stage table (``dalston.pipeline.stages``), so
``python -m celeryconfig`` is a syntax and environment check.

Queues are declared once, from the stage table: one queue per pipeline stage, plus the
queues that are not stages (``SERVICE_QUEUES``: ``webhooks``, where the native and
ElevenLabs webhook tasks are routed).
``task_routes`` maps each stage task (``dalston.<stage>``) to its queue and
``task_create_missing_queues`` is off, so a misspelt queue raises instead of silently
creating a queue nobody consumes. Celery's own
bookkeeping tasks, if any, go to the ``merge`` queue, which is cheap CPU work (the pipeline
uses no chords: merge is sent by a join on the stage rows, ``dalston.pipeline.builder``).

Settings that matter for minutes-long GPU tasks (see design.md §3):

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
  its task finished, so a worker that dies mid-task (OOM, SIGKILL, a lost machine) leaves
  the message to be delivered again. Stage functions are idempotent, and each stage row
  counts its attempts so a task that keeps killing its worker is failed, not looped.
* ``worker_prefetch_multiplier = 1``: a busy worker does not hoard jobs it cannot start.
* ``visibility_timeout``: Redis redelivers an unacknowledged message after this long. It
  must be longer than the slowest task, or a healthy long task is run twice.
"""

from kombu import Exchange, Queue

from dalston.config import get_settings
from dalston.pipeline.stages import SERVICE_QUEUES, STAGES, WEBHOOKS_QUEUE, StageSpec

_settings = get_settings()

#: The pipeline stages' queues, in canvas order, from the stage table.
STAGE_QUEUES = tuple(spec.queue for spec in STAGES)

broker_url = _settings.broker_url
result_backend = _settings.result_backend

_exchange = Exchange("dalston", type="direct")


def queues_for(stages: tuple[StageSpec, ...]) -> tuple[Queue, ...]:
    """One kombu queue per stage (a test feeds it a stage table with an extra stage)."""
    return tuple(Queue(s.queue, _exchange, routing_key=s.queue) for s in stages)


def routes_for(stages: tuple[StageSpec, ...]) -> dict[str, dict[str, str]]:
    """Each stage's task (``dalston.<stage>``) to its queue."""
    return {s.task_name: {"queue": s.queue, "routing_key": s.queue} for s in stages}


#: Queues that are not stages (webhook delivery), each with its ``workers/<queue>.py``.
OTHER_QUEUES = tuple(SERVICE_QUEUES)
#: Webhook tasks (native and ElevenLabs) to the webhooks queue.
WEBHOOK_ROUTES = {
    "dalston.webhooks.*": {"queue": WEBHOOKS_QUEUE, "routing_key": WEBHOOKS_QUEUE},
    "dalston.webhook": {"queue": WEBHOOKS_QUEUE, "routing_key": WEBHOOKS_QUEUE},
}

task_queues = queues_for(STAGES) + tuple(
    Queue(name, _exchange, routing_key=name) for name in OTHER_QUEUES
)
task_default_queue = "merge"
task_default_exchange = "dalston"
task_default_routing_key = "merge"
task_create_missing_queues = False
task_routes = {**routes_for(STAGES), **WEBHOOK_ROUTES}

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# A running stage is in its stage row (status, progress) and in Flower (task-started
# events); a STARTED state in the result backend too would be one more write per task.
task_track_started = False
# Task events (received, started, succeeded…) cost a Redis publish each, per task, for a
# monitor that may not be running: off unless DALSTON_TASK_EVENTS says so. Flower needs
# none of this: it broadcasts ``enable_events`` to the workers every few seconds while it
# runs (its ``--enable_events``, on by default), so its dashboard fills all the same.
task_send_sent_event = _settings.task_events
worker_send_task_events = _settings.task_events

broker_transport_options = {
    # Longer than the slowest stage (a multi-hour file on a slow CPU worker).
    "visibility_timeout": _settings.visibility_timeout,
    # How often a worker sweeps for unacknowledged messages whose visibility timeout ran
    # out (a task whose worker died): every interval × throttle seconds.
    "unacked_restore_interval": _settings.restore_interval,
    "unacked_restore_throttle": _settings.restore_throttle,
    # Scheduling (dalston.pipeline.builder: chunk i goes at priority min(i, 9)): one Redis
    # list per level, 0 served first, so a job's first chunk overtakes other jobs' later
    # ones. (kombu's default, [0, 3, 6, 9], would put chunks 0-2 in one FIFO.)
    "priority_steps": list(range(10)),
}
if broker_url.startswith("memory://"):
    # Embedded mode: Celery's in-memory transport has no priorities; this one serves the
    # most urgent message of every queue the worker consumes (dalston.membroker).
    broker_transport = "dalston.membroker:Transport"
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

imports = (
    "dalston.tasks",
    "dalston.elevenlabs.webhook",
    "dalston.webhooks.tasks",
    "dalston.retention",
)

#: Periodic work, run by ``celery -A dalston.celery_app beat`` (one beat per deployment).
beat_schedule = {
    # Remove the audio and artifacts of jobs past their retention (dalston.retention).
    "retention-purge": {
        "task": "dalston.retention.purge",
        "schedule": _settings.retention_interval,
    },
}

# The reconciler (dalston.pipeline.reconcile): resends what a broker restart or a crash lost.
# Run beat once per deployment (``celery -A dalston.celery_app beat``, or a merge worker's
# ``-B``); two beats are harmless (a pass holds a PostgreSQL advisory lock).
beat_schedule["dalston-reconcile"] = {
    "task": "dalston.reconcile",
    "schedule": _settings.reconcile_interval,
    "options": {"queue": "merge", "expires": _settings.reconcile_interval},
}

if __name__ == "__main__":  # pragma: no cover - a manual check
    print(
        f"broker: {broker_url}\nresult backend: {result_backend}\nqueues: {', '.join(STAGE_QUEUES)}"
    )
