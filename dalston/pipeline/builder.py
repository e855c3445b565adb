"""The canvas builder: pure functions from a job's options (and its chunk plan) to signatures.

The request decides the first step; the chunk plan, only known after prepare, decides the
rest, which prepare sends itself. Merge is no part of any canvas: it waits on a join in
PostgreSQL, not on a chord counter (see "The join" below)::

    prepare ─► [transcribe 0..N]                           ─┐
    prepare ─► [transcribe i → align i, …]                  ├─► merge (the join)
    prepare ─► [transcribe i → align i, …, diarize]         │
    prepare ─► whisperx_full                               ─┘  (transcribe_engine=whisperx-full)
    prepare ─► merge                                           # no speech at all

The first chunk goes out while prepare is still decoding (:func:`first_chunk`): as soon as
its cut is certain, prepare writes it and sends its work, and sends the other chunks'
(:func:`after_prepare`) when it has planned the whole file. diarize goes beside the
transcribe tasks, so it runs at the same time as transcription, on any diarize worker. The
whisperx-full engine transcribes, aligns and diarizes the whole file in one task (whisperX's
own pipeline): prepare plans a single chunk for it and nothing runs in parallel.

The join: every stage before merge, as it marks its row done, locks the job row and asks
whether every row but merge's is done (``queries.claim_merge``); the one that finds them
all done gives merge its task id in that same transaction and sends it. A chord would need
every chunk in one header, which the first chunk, sent before the others are known, is
not; its counter lives in the result backend (polled with ``celery.chord_unlock`` in
embedded mode) and dies with a Redis restart, and a chunk delivered twice counts twice.
The rows are the record already, so the join is exact, once, and fires without a poll.

Scheduling: chunk ``i`` of every job is sent with priority ``min(i, LOWEST_PRIORITY)``
(Redis and embedded mode serve 0 first; FIFO within a level). Every job's first chunk
therefore goes before any job's second, its second before any third, and so on: the
transcribe workers take jobs round-robin, chunk by chunk, and a short job (one chunk) waits
at most for the chunks already running, whatever long file is queued. prepare, diarize
and merge go at priority 0, so a new job starts, and a finished one completes, first.

Signatures are built by name, so the API never imports engine code; ``task_routes`` in
``celeryconfig`` sends each to its queue. Every signature is immutable (``.si``): stages read
their inputs from storage by job id, and only ids travel. Each signature gets its task id
up front so the stage rows know what to revoke on cancel.
"""

from __future__ import annotations

import dataclasses
import uuid

from celery import Celery, chain, group
from celery.canvas import Signature

from dalston.options import JobOptions
from dalston.pipeline.stages import Stage


@dataclasses.dataclass
class Plan:
    """A canvas (None: nothing to send) and the task id planned for every ``(stage, part)``.

    ``merge`` says whether a merge row belongs to the plan (it is sent by the join).
    """

    signature: Signature | None
    task_ids: dict[tuple[str, int], str]
    merge: bool = False


#: The last priority level (kombu's range is 0-9; ``celeryconfig`` declares every step).
LOWEST_PRIORITY = 9


def chunk_priority(index: int) -> int:
    """Chunk ``index``'s priority: the chunks of its own job queued before it, capped."""
    return min(index, LOWEST_PRIORITY)


def signature(
    app: Celery,
    stage: Stage | str,
    job_id: str,
    part: int | None,
    ids: dict | None,
    task_id: str | None = None,
) -> Signature:
    """One stage task's signature: its task id (recorded in ``ids``) and its priority.

    ``ignore_result``: nobody waits on a stage task's result (the stage rows are the
    record), so sending one does not subscribe to its result channel, which the Redis
    result backend otherwise does for every task sent (a round trip, and another to
    unsubscribe when the ``AsyncResult`` goes).
    """
    stage = Stage(stage)
    task_id = task_id or str(uuid.uuid4())
    if ids is not None:
        ids[(stage.value, part or 0)] = task_id
    args = (job_id,) if part is None else (job_id, part)
    priority = 0 if part is None else chunk_priority(part)
    return app.signature(
        stage.task_name,
        args=args,
        immutable=True,
        task_id=task_id,
        priority=priority,
        ignore_result=True,
    )


def initial(app: Celery, job_id: str) -> Plan:
    """What the API dispatches: prepare, which sends the rest once it knows the chunks."""
    ids: dict = {}
    return Plan(signature(app, Stage.PREPARE, job_id, None, ids), ids)


def _chunk_work(app: Celery, job_id: str, options: JobOptions, index: int, ids: dict) -> Signature:
    """One chunk's tasks: transcribe, then (for word times by an aligner) align.

    Each chunk is aligned as soon as it is transcribed, on an align worker, while other
    chunks are still being transcribed.
    """
    transcribe = signature(app, Stage.TRANSCRIBE, job_id, index, ids)
    if not options.needs_align:
        return transcribe
    return chain(transcribe, signature(app, Stage.ALIGN, job_id, index, ids))


def first_chunk(app: Celery, job_id: str, options: JobOptions, index: int) -> Plan:
    """The work of a chunk prepare sends before it has planned the whole file."""
    ids: dict = {}
    return Plan(_chunk_work(app, job_id, options, index, ids), ids)


def after_prepare(
    app: Celery,
    job_id: str,
    options: JobOptions,
    chunk_indexes: list[int],
    sent: frozenset[int] = frozenset(),
) -> Plan:
    """The rest of the work once prepare has cut the audio into ``chunk_indexes``.

    ``sent``: the chunks whose work went out already (:func:`first_chunk`). The plan always
    includes merge's row; merge itself is sent by the join.
    """
    ids: dict = {}
    if not chunk_indexes:
        return Plan(None, ids, merge=True)
    if options.whole_file_engine:
        return Plan(signature(app, Stage.WHISPERX_FULL, job_id, None, ids), ids, merge=True)
    header = [_chunk_work(app, job_id, options, i, ids) for i in chunk_indexes if i not in sent]
    if options.needs_diarize:
        header.append(signature(app, Stage.DIARIZE, job_id, None, ids))
    if not header:
        return Plan(None, ids, merge=True)
    return Plan(group(header), ids, merge=True)


def merge(app: Celery, job_id: str, task_id: str) -> Signature:
    """Merge, with the task id the join gave it (``queries.claim_merge``)."""
    return signature(app, Stage.MERGE, job_id, None, None, task_id)


def planned_stages(options: JobOptions) -> list[Stage]:
    """The stages a job with these options runs, for progress weighting and display."""
    if options.whole_file_engine:
        return [Stage.PREPARE, Stage.WHISPERX_FULL, Stage.MERGE]
    stages = [Stage.PREPARE, Stage.TRANSCRIBE]
    if options.needs_align:
        stages.append(Stage.ALIGN)
    if options.needs_diarize:
        stages.append(Stage.DIARIZE)
    return stages + [Stage.MERGE]
