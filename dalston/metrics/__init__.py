"""Prometheus metrics: what the API and the workers record, and what ``/metrics`` shows.

prometheus-client's multiprocess mode makes one ``/metrics`` see every process: with
``PROMETHEUS_MULTIPROC_DIR`` set (before anything imports prometheus-client; the README's
deployment section), each process (gunicorn workers, Celery prefork children, the
workers on the same host or volume) writes its samples to files there and the API's
``/metrics`` adds them up. Without it (embedded mode: one process) the values live in
memory. The gunicorn config marks dead workers (``child_exit``), Celery children likewise.

Recorded here (counters and histograms only, which add up across processes):

* ``dalston_jobs_total{family, status}`` — ``status="created"`` when a job is accepted,
  then its terminal status (completed, failed, cancelled) when it ends;
* ``dalston_stage_duration_seconds{stage, engine}`` and
  ``dalston_stage_real_time_factor{stage, engine}`` — per finished stage task, in the
  worker (wall seconds; seconds per second of audio);
* ``dalston_webhook_deliveries_total{style, outcome}`` — every delivery attempt;
* ``dalston_reconciler_redispatches_total{stage}`` — stages the reconciler sent again
  (``RECONCILER_REDISPATCHES.labels(stage=...).inc()``).

Read at scrape time (``exposition.ScrapeCollector``): queue depths and realtime sessions.
No label carries a tenant, a job id or a URL, so ``/metrics`` shows no one's data.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

JOBS = Counter(
    "dalston_jobs",
    "Jobs by API family and status (created when accepted, then how each ended)",
    ["family", "status"],
)
STAGE_DURATION = Histogram(
    "dalston_stage_duration_seconds",
    "Wall time of a finished stage task",
    ["stage", "engine"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
STAGE_RTF = Histogram(
    "dalston_stage_real_time_factor",
    "Seconds a finished stage task took per second of the audio it covered",
    ["stage", "engine"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
WEBHOOK_DELIVERIES = Counter(
    "dalston_webhook_deliveries",
    "Webhook delivery attempts by signing style and outcome",
    ["style", "outcome"],
)
RECONCILER_REDISPATCHES = Counter(
    "dalston_reconciler_redispatches",
    "Stage tasks the reconciler dispatched again (no progress past their deadline)",
    ["stage"],
)


def job_created(family: str | None) -> None:
    JOBS.labels(family=family or "native", status="created").inc()


def job_ended(family: str | None, status: str) -> None:
    JOBS.labels(family=family or "native", status=status).inc()


def stage_finished(stage: str, engine: str | None, seconds: float, audio_seconds: float | None):
    """Record one finished stage task (never raises: metrics must not fail a stage)."""
    try:
        engine = engine or "none"
        STAGE_DURATION.labels(stage=stage, engine=engine).observe(max(seconds, 0.0))
        if audio_seconds:
            STAGE_RTF.labels(stage=stage, engine=engine).observe(max(seconds, 0.0) / audio_seconds)
    except Exception:  # pragma: no cover - a broken metrics directory
        log.exception("could not record the %s stage's metrics", stage)


def webhook_attempt(style: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(style=style, outcome=outcome).inc()
