"""Job-ended notifications: whoever ends a job publishes it, whoever waits on it wakes at once.

The synchronous answers (ElevenLabs, OpenAI) and the native long poll
(``GET /v1/audio/transcriptions/{id}?wait=S``) wait for a job to end. Polling the database
made every synchronous request up to one poll interval slower than its job and cost the
API a query per interval; here a waiter registers its job id first, then reads the job
(so a notification can never fall between the read and the wait), then sleeps until
the notification comes. While the subscription may have missed one (it is not confirmed
yet, or it was lost and renewed since the waiter started: a Redis restart) the waiter reads
the job every :data:`FALLBACK_POLL` s, so a lost notification delays an answer by at most
that and never hangs it; while it has held the whole time, only every :data:`SAFETY_POLL` s.

Distributed mode: workers ``PUBLISH`` the job id on :data:`CHANNEL` of the broker's Redis;
each API process runs one listener thread (started on the first wait, so a forking server
starts it in the child) that wakes that process's waiters. Embedded mode (the in-memory
broker, one process): an in-process hub, the same interface.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Iterator

log = logging.getLogger(__name__)

CHANNEL = "dalston:jobs:ended"
#: How often a waiter reads the job while a notification may have been missed.
FALLBACK_POLL = 1.0
#: How often it reads the job while the subscription has held since it started watching.
SAFETY_POLL = 15.0


class LocalHub:
    """Waiters of one process, by job id; :meth:`notify` wakes every waiter of a job."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[threading.Event]:
        """An event set when ``job_id`` ends, registered for the block's duration."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(event)
        self.started()
        try:
            yield event
        finally:
            with self._lock:
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[job_id]

    def notify(self, job_id: str) -> None:
        with self._lock:
            events = list(self._waiters.get(job_id, ()))
        for event in events:
            event.set()

    def publish(self, job_id: str) -> None:
        self.notify(job_id)

    def started(self) -> None:
        """Nothing to start in one process."""

    def epoch(self) -> int | None:
        """Which unbroken subscription is delivering notifications now; None: none is.

        A waiter that sees the same epoch before and after a wait cannot have missed its
        job's notification. In one process nothing can be lost: always the same.
        """
        return 0

    def poll_interval(self, since: int | None) -> float:
        """How long a waiter that started watching at epoch ``since`` may sleep unwoken."""
        now = self.epoch()
        return SAFETY_POLL if now is not None and now == since else FALLBACK_POLL


class RedisHub(LocalHub):
    """:class:`LocalHub` fed by Redis pub/sub, so a worker's ``publish`` reaches every API."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self._client = None
        self._client_pid = None
        self._listener: threading.Thread | None = None
        self._listener_pid = None
        self._epoch: int | None = None  # set once a subscription is confirmed
        self._epochs = 0

    def client(self):
        import redis

        if self._client is None or self._client_pid != os.getpid():
            self._client = redis.Redis.from_url(self.url, socket_timeout=5)
            self._client_pid = os.getpid()
        return self._client

    def publish(self, job_id: str) -> None:
        """Best effort: a waiter that misses it reads the job within :data:`FALLBACK_POLL`."""
        self.notify(job_id)  # waiters in this process (a worker that also serves the API)
        try:
            self.client().publish(CHANNEL, job_id)
        except Exception as exc:  # Redis down: waiters fall back to reading the job
            log.warning("could not publish the end of job %s: %s", job_id, exc)

    def started(self) -> None:
        if self._listener is not None and self._listener_pid == os.getpid():
            return
        with self._lock:
            if self._listener is None or self._listener_pid != os.getpid():
                self._listener_pid = os.getpid()
                self._listener = threading.Thread(
                    target=self._listen, name="dalston-job-events", daemon=True
                )
                self._listener.start()

    def _listen(self) -> None:
        import redis

        delay = 0.5
        while True:
            try:
                pubsub = redis.Redis.from_url(self.url, socket_keepalive=True).pubsub()
                pubsub.subscribe(CHANNEL)
                delay = 0.5
                for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":  # Redis confirmed: from here nothing is missed
                        self._epochs += 1
                        self._epoch = self._epochs
                    elif kind == "message":
                        data = message["data"]
                        self.notify(data.decode() if isinstance(data, bytes) else str(data))
            except Exception as exc:  # reconnect; waiters poll meanwhile
                self._epoch = None
                log.warning("job events: Redis subscription lost (%s); reconnecting", exc)
                time.sleep(delay)
                delay = min(10.0, delay * 2)

    def epoch(self) -> int | None:
        if self._listener_pid != os.getpid():  # a forked child: its own listener is not up
            return None
        return self._epoch


_hubs: dict[str, LocalHub] = {}
_hubs_lock = threading.Lock()


def hub(broker_url: str) -> LocalHub:
    """The process's hub for this broker: Redis pub/sub for a Redis broker, else in-process."""
    with _hubs_lock:
        if broker_url not in _hubs:
            is_redis = broker_url.startswith(("redis://", "rediss://", "unix://"))
            _hubs[broker_url] = RedisHub(broker_url) if is_redis else LocalHub()
        return _hubs[broker_url]
