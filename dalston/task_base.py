"""``StageTask``: what every stage task shares, so each task in ``dalston.tasks`` is a thin view.

A stage task loads ids → ``begin`` (mark its stage row running, counting attempts, and load
the outputs the stage reads: its module's ``reads``) → calls its stage module's
``run(job, store, engine, report)`` → ``finish`` (mark the row done, with the stage's
output when it returned a ``StageResult``).
Failures end the job ``failed`` with a reason (``on_failure``); transient infrastructure
errors (database, storage, network) are retried with exponential backoff until
``DALSTON_DB_RETRY_DEADLINE`` seconds have passed, so a database outage of minutes is waited
out; a failure that cannot be written (the database is down) is handed to the
``dalston.record_failure`` task, which retries the same way. A stage that runs past its soft
time limit ends the job ``failed`` with ``stage_time_limit``. A job that was
cancelled, failed or deleted makes its remaining tasks return at once. The stage and its
engine kind come from the stage table (``dalston.pipeline.stages``), the engine from the
registry (the request's choice, else the worker's default), once per process.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import random
import threading
import time
import uuid
from types import ModuleType
from typing import Callable

import botocore.exceptions
import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger

from dalston import faults, lifecycle, metrics
from dalston.config import get_settings
from dalston.db import queries
from dalston.db.models import StageStatus
from dalston.db.session import session_scope
from dalston.engines import default_name, get_engine
from dalston.errors import JobCancelled, StageError
from dalston.options import JobOptions
from dalston.pipeline import builder
from dalston.pipeline.stages import StageSpec, spec_for_task, time_limits
from dalston.stages.context import StageJob, StageResult
from dalston.storage import keys, make_store

log = get_task_logger(__name__)

TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    kombu.exceptions.OperationalError,  # the broker, while a stage sends what comes next
    redis.exceptions.ConnectionError,
    ConnectionError,
    TimeoutError,
)
#: Transient errors are retried; the delay and the number of tries come from
#: :attr:`StageTask.default_retry_delay` and :attr:`StageTask.max_retries` (a deadline).
RETRY = dict(autoretry_for=TRANSIENT, retry_backoff=False)
#: The first retry's delay and the longest one, in seconds (doubling in between).
RETRY_FIRST = 1.0
RETRY_LONGEST = 30.0
#: A stage module's ``reads(options, part)``: the stage whose outputs it reads, and the part
#: (None: every part), or None when it reads none.
Reads = Callable[[JobOptions, int], "tuple[str, int | None] | None"]
#: The task that writes a failure the stage could not (``dalston.tasks.record_failure``).
RECORD_FAILURE = "dalston.record_failure"


#: Threads of a process that read a stage's input while its task begins (``read_early``);
#: made on first use, and again in a forked child (a parent's threads are not its own).
_early_pool: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None
_early_lock = threading.Lock()
EARLY_READERS = 4


def _early_reads() -> concurrent.futures.ThreadPoolExecutor:
    global _early_pool
    with _early_lock:
        if _early_pool is None or _early_pool[0] != os.getpid():
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=EARLY_READERS, thread_name_prefix="dalston-early-read"
            )
            _early_pool = (os.getpid(), pool)
        return _early_pool[1]


def retry_delay(retries: int) -> float:
    """The delay before retry number ``retries + 1``: doubling, capped, ±20 % jitter."""
    return min(RETRY_LONGEST, RETRY_FIRST * 2 ** min(retries, 16)) * random.uniform(0.8, 1.0)


def retries_for(deadline: float) -> int:
    """How many retries (each at least 80 % of :func:`retry_delay`) span ``deadline`` seconds."""
    total, count = 0.0, 0
    while total < deadline:
        total += 0.8 * min(RETRY_LONGEST, RETRY_FIRST * 2 ** min(count, 16))
        count += 1
    return count


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


#: Seconds between progress writes (and cancellation checks) of a running stage.
PROGRESS_INTERVAL = 1.0


class StageTask(Task):
    """Base of every stage task: settings, store and database access, failure bookkeeping."""

    #: What a stage did is in its stage row (and its outputs in storage); nobody reads a
    #: stage task's return value, so it is not written to the result backend (a Redis write
    #: per task saved). Progress still is (``update_state``, for Flower and AsyncResult.info).
    ignore_result = True

    @property
    def settings(self):
        return get_settings()

    @functools.cached_property
    def store(self):
        return make_store(self.settings)

    @property
    def spec(self) -> StageSpec:
        # record_failure is no stage: it runs on the merge queue, under merge's limits.
        return spec_for_task(self.name if self.name != RECORD_FAILURE else "dalston.merge")

    # Read by Celery at each retry and each execution, so settings (not import time) decide.
    @property
    def max_retries(self) -> int:
        return retries_for(self.settings.db_retry_deadline)

    @property
    def default_retry_delay(self) -> float:
        return retry_delay(self.request.retries or 0)

    @property
    def soft_time_limit(self) -> float:
        return time_limits(self.spec, self.settings.stage_time_limits)[0]

    @property
    def time_limit(self) -> float:
        return time_limits(self.spec, self.settings.stage_time_limits)[1]

    def fault(self, point: str) -> None:
        """A named crash point for the fault tests (``dalston.faults``); free when unset."""
        faults.point(point, self.settings)

    def session(self):
        return session_scope(self.settings.database_url)

    def begin(self, job_id: str, part: int = 0, reads: Reads | None = None) -> StageJob | None:
        """Mark the stage running and load the job as its stage sees it, in one transaction.

        None when the job is gone, finished, or out of attempts. (What ``begin_stage``
        returns of the job row it locks is what the stage reads: one transaction, not two.)
        ``reads(options, part)``: which stage's outputs the stage reads, ``(stage, part)``
        or ``(stage, None)`` for every part; they come as ``StageJob.inputs``.
        """
        stage = self.spec.name
        with self.session() as session:
            begun = queries.begin_stage(
                session,
                job_id,
                stage,
                part,
                task_id=self.request.id,
                worker=self.request.hostname,
            )
            if begun is None:
                log.info("job %s is not active; %s[%s] skipped", job_id, stage, part)
                return None
            if begun.attempts > self.settings.max_stage_attempts:
                queries.fail_job(
                    session,
                    job_id,
                    "stage_interrupted",
                    f"the {stage} stage was started {begun.attempts - 1} times without "
                    "finishing (its worker stopped each time, e.g. out of memory); giving up",
                    stage=stage,
                    part=part,
                )
                return None
            options = JobOptions.from_dict(begun.options)
            source = reads(options, part) if reads is not None else None
            loaded = StageJob(
                id=job_id,
                part=part,
                options=options,
                settings=self.settings,
                source_url=begun.source_url,
                audio_duration=begun.audio_duration,
                inputs=queries.stage_outputs(session, job_id, *source) if source else {},
            )
        self.fault(f"{stage}.after_begin")
        return loaded

    def engine_for(self, job: StageJob):
        """The stage's engine: the request's choice, else this worker's default."""
        kind = self.spec.engine
        return get_engine(kind, job.options.engine_for(kind), self.settings) if kind else None

    def finish(
        self, job_id: str, part: int = 0, job: StageJob | None = None, output: dict | None = None
    ) -> bool:
        """Mark the stage done; send merge if it was the last. False if the job was deleted.

        One transaction: the job row locked, the stage row marked done with the stage's
        ``output`` (the update finds nothing when the job, and with it its stage rows, was
        deleted while the stage ran: then its outputs go too), and the join
        (``queries.claim_merge``: whether this was the last row before merge). Merge is sent
        after the commit; if that send is lost the reconciler sends merge again.
        ``job``: the stage's view of it, for the metrics' engine label and audio length.
        """
        merge_id = str(uuid.uuid4())
        with self.session() as session:
            status = queries.lock_job(session, job_id)
            run = queries.finish_stage(session, job_id, self.spec.name, part, output)
            joined = (
                run is not None
                and status in queries.ACTIVE
                and queries.claim_merge(session, job_id, merge_id, run)
            )
        if run is None:
            self.store.delete_prefix(keys.job_prefix(job_id))
            return False
        self.observe(run, job)
        if joined:
            self.send_merge(job_id, merge_id)
        return True

    def send_merge(self, job_id: str, task_id: str) -> None:
        """Send merge for a job whose other stages are all done (after the join's commit)."""
        try:
            builder.merge(self.app, job_id, task_id).apply_async()
        except Exception:  # the broker is down: its merge row is the record, resent later
            log.exception("could not send merge for job %s; the reconciler will", job_id)

    def observe(self, run: queries.FinishedStage, job: StageJob | None) -> None:
        """The finished stage's duration and real-time factor (``dalston.metrics``)."""
        if run.started_at is None or run.completed_at is None:
            return
        kind = self.spec.engine
        engine = None
        if kind:
            engine = (job and job.options.engine_for(kind)) or default_name(kind)
        metrics.stage_finished(
            self.spec.name,
            engine,
            (run.completed_at - run.started_at).total_seconds(),
            run.audio_seconds or (job and job.audio_duration),
        )

    def clean_up_if_deleted(self, job_id: str) -> bool:
        """Remove what this stage wrote for a job deleted while it ran; True if it was deleted.

        The API deletes a job's row before its objects, so a stage that wrote after that
        deletion finds the row gone here and removes its own outputs.
        """
        with self.session() as session:
            deleted = queries.job_status(session, job_id) is None
        if deleted:
            self.store.delete_prefix(keys.job_prefix(job_id))
        return deleted

    def run_stage(
        self,
        stage: ModuleType,
        job_id: str,
        part: int = 0,
        *,
        then: Callable[[StageJob, dict], dict] | None = None,
        **hooks: Callable,
    ) -> dict:
        """begin → ``stage.run(job, store, engine, report, **hooks)`` → finish; the summary.

        ``then(job, summary)``: called instead of finishing, to mark the stage done itself
        after it has sent what comes next (prepare); its answer is the task's. ``hooks``:
        callbacks the stage module's ``run`` takes beside ``report`` (prepare's
        ``on_first_chunk``), each called with the job first. A stage module's ``early``
        (what it reads whatever the begin finds: transcribe's chunk audio) is read beside
        the begin (:meth:`read_early`) and handed to its ``run`` as ``read``.
        """
        ids = {"job_id": job_id, "part": part} if self.spec.per_chunk else {"job_id": job_id}
        read = self.read_early(getattr(stage, "early", None), job_id, part)
        job = self.begin(job_id, part, getattr(stage, "reads", None))
        if job is None:
            return {**ids, "skipped": True}  # and what was read early is dropped
        try:
            bound = {name: functools.partial(hook, job) for name, hook in hooks.items()}
            if read is not None:
                bound["read"] = read
            report = self.reporter(job_id, part)
            summary = stage.run(job, self.store, self.engine_for(job), report, **bound)
        except JobCancelled:
            log.info("job %s was cancelled during %s[%s]", job_id, self.name, part)
            self.clean_up_if_deleted(job_id)
            return {**ids, "cancelled": True}
        output = None
        if isinstance(summary, StageResult):
            summary, output = summary.summary, summary.output
        if then is not None:
            return then(job, {**ids, **summary})
        if not self.finish(job_id, part, job, output):
            return {**ids, "deleted": True}
        return {**ids, **summary}

    def read_early(self, early: Callable | None, job_id: str, part: int) -> Callable | None:
        """Start the stage's ``early`` read (``early(job_id, part, store)``: what it reads
        from storage whatever its begin finds) beside the begin's transaction, so the two
        waits overlap; a callable that returns it (None: the stage has none).

        A read the pool has not started by then is taken back and done by the caller: an
        early read never makes a stage later than reading it in turn would. Its errors
        come from the callable, inside the stage, as they would from the stage's own read.
        """
        if early is None:
            return None
        future = _early_reads().submit(early, job_id, part, self.store)

        def result():
            if future.cancel():  # not started (every reader busy): read it here
                return early(job_id, part, self.store)
            return future.result()

        return result

    def reporter(self, job_id: str, part: int = 0):
        """A callback that stores progress; it raises JobCancelled once the job is not active."""
        stage = self.spec.name
        # The first write comes one interval after the start, and none at the end (finish
        # follows): a stage shorter than the interval costs no progress writes at all.
        last = [time.monotonic()]
        # The solo pool (GPU stages) has no signal-based time limits: progress reports check.
        deadline = time.monotonic() + self.soft_time_limit

        def report(fraction: float) -> None:
            now = time.monotonic()
            if now > deadline:
                raise SoftTimeLimitExceeded()
            if now - last[0] < PROGRESS_INTERVAL or fraction >= 1.0:
                return
            last[0] = now
            with self.session() as session:
                if queries.job_status(session, job_id) not in queries.ACTIVE:
                    raise JobCancelled(job_id)
                queries.set_progress(session, job_id, stage, part, fraction)
            # Shown by Flower and AsyncResult.info while the task runs.
            self.update_state(
                state="PROGRESS",
                meta={
                    "job_id": job_id,
                    "part": part,
                    "progress": round(float(fraction), 3),
                },
            )

        return report

    def complete(self, job: StageJob, transcript: dict) -> bool:
        """Complete the job (once) and mark merge done in one transaction; tell whoever asked.

        One commit: a crash before it leaves both undone (the redelivered merge runs again),
        after it both done; no state where merge is done and the job still running.
        """
        job_id = job.id
        self.fault("merge.before_complete")
        with self.session() as session:
            done = queries.complete_job(session, job_id, transcript)
            run = queries.finish_stage(session, job_id, self.spec.name, 0)
        if run is None:  # the job was deleted while merge ran: what it wrote goes too
            self.store.delete_prefix(keys.job_prefix(job_id))
            return False
        self.observe(run, job)
        self.fault("merge.after_complete")
        if done:
            self.job_ended(job_id)
        return done

    def job_ended(self, job_id: str) -> None:
        """Count it, schedule its retention, tell whoever asked (``dalston.lifecycle``)."""
        lifecycle.job_ended(self.app, self.settings, self.store, job_id)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id, part = args[0], (args[1] if len(args) > 1 else 0)
        stage = self.spec.name
        if is_transient(exc) and self.finished(job_id, part):
            # The stage's work is done and recorded; what failed came after it: sending
            # the next stage (Celery publishes a chain's link once the task has returned)
            # while the broker was away. The reconciler resends a ready stage whose message
            # is lost, so the job goes on instead of failing.
            log.warning(
                "%s[%s] of job %s finished, but what follows it was not sent (%s); "
                "the reconciler will send it",
                stage,
                part,
                job_id,
                exc,
            )
            return
        if isinstance(exc, StageError):
            code, message = exc.code, exc.message
        elif isinstance(exc, SoftTimeLimitExceeded):
            code, message = (
                "stage_time_limit",
                f"the {stage} stage ran past its {self.soft_time_limit:.0f} s time limit "
                "(DALSTON_STAGE_TIME_LIMITS)",
            )
        elif is_transient(exc):
            code, message = (
                "infrastructure_unavailable",
                f"the {stage} stage could not reach the database or storage for "
                f"{self.settings.db_retry_deadline:.0f} s (DALSTON_DB_RETRY_DEADLINE)",
            )
        else:
            code, message = (
                "internal_error",
                f"the {stage} stage failed: {exc.__class__.__name__}: {exc}",
            )
        try:
            self.record_failure(job_id, code, message, stage, part)
        except Exception:  # the database itself is down: a task retries the write
            log.warning("could not record the failure of job %s now; retrying later", job_id)
            self.app.send_task(
                RECORD_FAILURE, args=(job_id, code, message, stage, part), queue="merge"
            )

    def finished(self, job_id: str, part: int) -> bool:
        """Whether this task's stage row is marked done (False when that cannot be read)."""
        try:
            with self.session() as session:
                run = queries.get_stage(session, job_id, self.spec.name, part)
        except Exception:  # the database is down too: the failure path decides
            return False
        return run is not None and run.status == StageStatus.COMPLETED.value

    def record_failure(self, job_id: str, code: str, message: str, stage: str, part: int) -> None:
        """Fail the job (once) and tell whoever asked."""
        with self.session() as session:
            ended = queries.fail_job(session, job_id, code, message, stage=stage, part=part)
        if ended:
            self.job_ended(job_id)


class FailureRecorder(StageTask):
    """Base of ``dalston.record_failure``: its own failure (the database never came back
    within the deadline) is only logged; the reconciler still sees the job unfinished.
    """

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        log.error("gave up recording the failure of job %s: %s", args[0], exc)
