"""What ``GET /metrics`` answers: the recorded metrics plus what is read at scrape time.

Recorded metrics come from every process's files (multiprocess mode) or from this
process's memory. Queue depths (``dalston_queue_length{queue}``: Redis ``LLEN`` of each
queue) and realtime sessions (``dalston_realtime_active_sessions``,
``dalston_realtime_capacity``: the relay's worker slots) are read when Prometheus scrapes,
so they are right however many API processes there are, and need no process to keep a
gauge up to date.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)


def queue_lengths(broker_url: str, queues: Iterable[str]) -> dict[str, int] | None:
    """``LLEN`` of each queue on a Redis broker; None when the broker is not Redis."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        names = list(queues)
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute()))
    finally:
        client.close()


class ScrapeCollector:
    """Gauges read at scrape time; a source that is down is left out (and logged)."""

    def __init__(
        self,
        broker_url: str,
        queues: Iterable[str],
        realtime_status: Callable[[], dict] | None,
    ):
        self.broker_url = broker_url
        self.queues = tuple(queues)
        self.realtime_status = realtime_status

    def collect(self):
        try:
            lengths = queue_lengths(self.broker_url, self.queues)
        except Exception as exc:
            log.warning("metrics: queue lengths unavailable: %s", exc)
            lengths = None
        if lengths is not None:
            family = GaugeMetricFamily(
                "dalston_queue_length",
                "Messages waiting in each Celery queue",
                labels=["queue"],
            )
            for name, length in lengths.items():
                family.add_metric([name], length)
            yield family
        if self.realtime_status is not None:
            try:
                status = self.realtime_status()
            except Exception as exc:
                log.warning("metrics: realtime status unavailable: %s", exc)
                return
            yield GaugeMetricFamily(
                "dalston_realtime_active_sessions",
                "Realtime sessions open on live realtime workers",
                value=status.get("active_sessions", 0),
            )
            yield GaugeMetricFamily(
                "dalston_realtime_capacity",
                "Realtime session slots of live realtime workers",
                value=status.get("total_capacity", 0),
            )


def render(metrics_dir: str | None, scrape: ScrapeCollector) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    if metrics_dir:
        recorded = CollectorRegistry()
        MultiProcessCollector(recorded, path=metrics_dir)
    else:
        recorded = REGISTRY
    live = CollectorRegistry()
    live.register(scrape)
    return generate_latest(recorded) + generate_latest(live), CONTENT_TYPE_LATEST


def serve(port: int, metrics_dir: str | None) -> None:
    """Serve this worker's recorded metrics (all its pool's processes, in multiprocess
    mode) on ``port``, in a daemon thread of the worker's main process."""
    if metrics_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=metrics_dir)
    else:
        registry = REGISTRY
    start_http_server(port, registry=registry)
    log.info("worker metrics on port %d", port)
