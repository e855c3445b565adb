"""The canvas builder: pure functions from a job's options (and its chunk plan) to signatures.

The request decides the first step; the chunk plan, only known after prepare, decides the
rest, which prepare puts in its own place with ``Task.replace``::

    prepare ─► chord([transcribe 0..N], merge)                     # segment timestamps
    prepare ─► chord([transcribe i → align i, …], merge)           # word timestamps
    prepare ─► chord([transcribe i → align i, …, diarize], merge)  # + diarize
    prepare ─► merge                                              # no speech at all
    prepare ─► whisperx_full ─► merge                             # transcribe_engine=whisperx-full

diarize sits in the chord's header beside the transcribe tasks, so it runs at the same time
as transcription, on any diarize worker. The whisperx-full engine transcribes, aligns and
diarizes the whole file in one task (whisperX's own pipeline), so its jobs are a plain chain:
prepare plans a single chunk for them and nothing runs in parallel.

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

from celery import Celery, chain, chord
from celery.canvas import Signature

from dalston.options import JobOptions
from dalston.pipeline.stages import Stage


@dataclasses.dataclass
class Plan:
    """A canvas and the task id planned for every ``(stage, part)`` in it."""

    signature: Signature
    task_ids: dict[tuple[str, int], str]


#: The last priority level (kombu's range is 0-9; ``celeryconfig`` declares every step).
LOWEST_PRIORITY = 9


def chunk_priority(index: int) -> int:
    """Chunk ``index``'s priority: the chunks of its own job queued before it, capped."""
    return min(index, LOWEST_PRIORITY)


def _sig(app: Celery, stage: Stage, job_id: str, part: int | None, ids: dict) -> Signature:
    task_id = str(uuid.uuid4())
    ids[(stage.value, part or 0)] = task_id
    args = (job_id,) if part is None else (job_id, part)
    priority = 0 if part is None else chunk_priority(part)
    return app.signature(
        stage.task_name, args=args, immutable=True, task_id=task_id, priority=priority
    )


def initial(app: Celery, job_id: str) -> Plan:
    """What the API dispatches: prepare, which extends the canvas once it knows the chunks."""
    ids: dict = {}
    return Plan(_sig(app, Stage.PREPARE, job_id, None, ids), ids)


def after_prepare(app: Celery, job_id: str, options: JobOptions, chunk_indexes: list[int]) -> Plan:
    """The rest of the canvas, once prepare has cut the audio into ``chunk_indexes``."""
    ids: dict = {}
    merge = _sig(app, Stage.MERGE, job_id, None, ids)
    if not chunk_indexes:
        return Plan(merge, ids)
    if options.whole_file_engine:
        return Plan(chain(_sig(app, Stage.WHISPERX_FULL, job_id, None, ids), merge), ids)
    if options.needs_align:
        # Each chunk is aligned as soon as it is transcribed, on an align worker, while
        # other chunks are still being transcribed.
        header = [
            chain(
                _sig(app, Stage.TRANSCRIBE, job_id, i, ids), _sig(app, Stage.ALIGN, job_id, i, ids)
            )
            for i in chunk_indexes
        ]
    else:
        header = [_sig(app, Stage.TRANSCRIBE, job_id, i, ids) for i in chunk_indexes]
    if options.needs_diarize:
        header.append(_sig(app, Stage.DIARIZE, job_id, None, ids))
    return Plan(chord(header, merge), ids)


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
