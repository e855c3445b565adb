"""Limits every API process shares, kept in Redis: request rate, concurrent jobs, sessions.

- ``DALSTON_RATE_LIMIT``: requests per minute per tenant key, counted in a sliding window
  (one Lua script). Over it: ``429 rate_limit_exceeded`` with ``Retry-After``.
- ``DALSTON_MAX_CONCURRENT_JOBS``: the tenant's unfinished jobs, counted in the database (a
  job that completes, fails or is cancelled frees its slot, whoever ended it). Over it:
  ``429 concurrent_limit_exceeded`` with ``Retry-After``.
- ``DALSTON_REALTIME_SESSIONS_PER_KEY``: open realtime sessions per tenant key, as leases in
  a sorted set renewed while the session lives. Over it: the session is closed with 4429
  ``session_limit`` (``retry_after_ms`` in its error message).
- ``DALSTON_MAX_QUEUED_JOBS``: jobs waiting for a worker, everyone's. Over it:
  ``503 queue_full`` with ``Retry-After`` (never an unbounded backlog).

429 is what every SDK family retries after ``Retry-After`` (the ElevenLabs SDKs retry 429,
not 409: api-compat.md §3.3). The per-key limits bind tenant keys; admin keys (the
operators', ``DALSTON_API_KEY`` among them) and an open server's anonymous callers are bound
by the queue limit only.

**Across processes.** The rate window and the session leases are single Lua scripts, so two
API processes cannot both take the last slot. The job count is the database's (the truth,
whatever ends a job); two processes admitting a tenant's jobs at once are serialised by a
short Redis lock per tenant held from the count to the job row's commit
(:func:`job_slot`), so the count cannot be read twice before a row lands. A session lease
lives :data:`LEASE_SECONDS` unless renewed, so the slots of an API process that died free
themselves. If Redis cannot be reached, these limits let requests through (and log it):
Redis is disposable (design.md §8), the database is the record.

Embedded mode (``memory://``) keeps the same counters in the process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid

import sqlalchemy as sa
from flask import current_app, g

from dalston.db.models import Job, JobStatus
from dalston.db.queries import ACTIVE
from dalston.errors import ApiError

log = logging.getLogger(__name__)

WINDOW_MS = 60_000
#: A session lease lives this long unless its session renews it (every third of it).
LEASE_SECONDS = 30.0
#: How long a job admission waits for another process's admission of the same tenant.
LOCK_WAIT_SECONDS = 10.0
LOCK_TTL_MS = 30_000
#: Retry advice, in seconds, when no exact figure exists (a job takes minutes to end).
JOBS_RETRY_AFTER = 10
QUEUE_RETRY_AFTER = 30
SESSION_RETRY_AFTER_MS = 5000

_RATE = """
local key, limit, window, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
_LEASE = """
local key, member, limit, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if not redis.call('ZSCORE', key, member) and redis.call('ZCARD', key) >= limit then
  return 0
end
redis.call('ZADD', key, now + ttl, member)
redis.call('PEXPIRE', key, ttl)
return 1
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBackend:
    """The counters in Redis (every API process sees the same)."""

    def __init__(self, url: str):
        import redis

        self.errors = (redis.RedisError,)
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._rate = self.redis.register_script(_RATE)
        self._lease = self.redis.register_script(_LEASE)
        self._unlock = self.redis.register_script(_UNLOCK)

    def hit(self, bucket: str, limit: int, window_ms: int) -> int:
        """Count a request; 0 if it is within ``limit``, else milliseconds until one would be."""
        return int(self._rate(keys=[bucket], args=[limit, window_ms, uuid.uuid4().hex]))

    def lease(self, bucket: str, member: str, limit: int, ttl_ms: int) -> bool:
        """Take (or renew) ``member``'s slot among at most ``limit``; False when they are taken."""
        return bool(self._lease(keys=[bucket], args=[member, limit, ttl_ms]))

    def unlease(self, bucket: str, member: str) -> None:
        self.redis.zrem(bucket, member)

    def lock(self, name: str, ttl_ms: int) -> str | None:
        token = uuid.uuid4().hex
        return token if self.redis.set(name, token, nx=True, px=ttl_ms) else None

    def unlock(self, name: str, token: str) -> None:
        self._unlock(keys=[name], args=[token])

    def put(self, key: str, value: str, ttl: int) -> None:
        self.redis.set(key, value, ex=ttl)

    def take(self, key: str) -> str | None:
        """The value, deleted in the same step (``GETDEL``): two takers cannot both get it."""
        raw = self.redis.getdel(key)
        return raw.decode() if raw is not None else None


class MemoryBackend:
    """The same counters inside one process (embedded mode: one API process, no Redis)."""

    errors: tuple = ()

    def __init__(self):
        self._lock = threading.Lock()
        self._zsets: dict[str, dict[str, float]] = {}
        self._values: dict[str, tuple[str, float]] = {}

    @staticmethod
    def _now_ms() -> float:
        return time.monotonic() * 1000

    def hit(self, bucket, limit, window_ms):
        with self._lock:
            now = self._now_ms()
            hits = {m: t for m, t in self._zsets.get(bucket, {}).items() if t > now - window_ms}
            self._zsets[bucket] = hits
            if len(hits) < limit:
                hits[uuid.uuid4().hex] = now
                return 0
            return max(1, int(min(hits.values()) + window_ms - now))

    def lease(self, bucket, member, limit, ttl_ms):
        with self._lock:
            now = self._now_ms()
            leases = {m: t for m, t in self._zsets.get(bucket, {}).items() if t > now}
            self._zsets[bucket] = leases
            if member not in leases and len(leases) >= limit:
                return False
            leases[member] = now + ttl_ms
            return True

    def unlease(self, bucket, member):
        with self._lock:
            self._zsets.get(bucket, {}).pop(member, None)

    def lock(self, name, ttl_ms):
        token = uuid.uuid4().hex
        with self._lock:
            held = self._values.get(name)
            if held is not None and held[1] > self._now_ms():
                return None
            self._values[name] = (token, self._now_ms() + ttl_ms)
            return token

    def unlock(self, name, token):
        with self._lock:
            if self._values.get(name, (None,))[0] == token:
                del self._values[name]

    def put(self, key, value, ttl):
        with self._lock:
            self._values[key] = (value, self._now_ms() + ttl * 1000)

    def take(self, key):
        with self._lock:
            value, expires = self._values.pop(key, (None, 0.0))
            return value if expires > self._now_ms() else None


_memory: dict[str, MemoryBackend] = {}
_memory_lock = threading.Lock()


def make_backend(url: str):
    """The backend for ``url``: ``memory://`` (one per process) or a Redis URL."""
    if url.startswith("memory://"):
        with _memory_lock:
            return _memory.setdefault(url, MemoryBackend())
    return RedisBackend(url)


def refuse(status: int, code: str, message: str, retry_after: float) -> ApiError:
    """The error for a limit, with ``Retry-After`` (seconds) on its response (``install``)."""
    g.retry_after = max(1, math.ceil(retry_after))
    return ApiError(status, code, message)


class Limits:
    """The limits of one app: its settings and backend (``current_app.extensions``)."""

    def __init__(self, settings):
        self.settings = settings
        self.backend = make_backend(settings.limits_url)

    @contextlib.contextmanager
    def _tolerant(self, what: str):
        """Run a Redis step; if Redis is unreachable, log it and let the request through."""
        try:
            yield
        except self.backend.errors as exc:
            log.warning("limits: %s skipped, Redis unreachable: %s", what, exc)

    # -- requests -----------------------------------------------------------------------
    def check_rate(self, identity) -> None:
        limit = identity.rate_limit if identity.rate_limit is not None else self.settings.rate_limit
        if not identity.limited or limit <= 0:
            return
        wait_ms = 0
        with self._tolerant("rate limit"):
            wait_ms = self.backend.hit(f"dalston:limits:rate:{identity.key_id}", limit, WINDOW_MS)
        if wait_ms:
            raise refuse(
                429,
                "rate_limit_exceeded",
                f"this key may make {limit} requests a minute; retry in {wait_ms / 1000:.1f} s",
                wait_ms / 1000,
            )

    # -- jobs -----------------------------------------------------------------------------
    def check_jobs(self, session, identity) -> None:
        """429 when the caller's tenant has its limit of unfinished jobs; 503 when the
        queue is full."""
        queued_limit = self.settings.max_queued_jobs
        if queued_limit > 0:
            queued = session.scalar(
                sa.select(sa.func.count())
                .select_from(Job)
                .where(Job.status == JobStatus.PENDING.value)
            )
            if queued >= queued_limit:
                raise refuse(
                    503,
                    "queue_full",
                    f"{queued} jobs are waiting for a worker, the most this server queues "
                    "(DALSTON_MAX_QUEUED_JOBS); retry later",
                    QUEUE_RETRY_AFTER,
                )
        limit = self.settings.max_concurrent_jobs
        if not identity.limited or limit <= 0:
            return
        active = session.scalar(
            sa.select(sa.func.count())
            .select_from(Job)
            .where(Job.tenant_id == identity.tenant, Job.status.in_(ACTIVE))
        )
        if active >= limit:
            raise refuse(
                429,
                "concurrent_limit_exceeded",
                f"tenant {identity.tenant!r} has {active} unfinished jobs, its limit "
                "(DALSTON_MAX_CONCURRENT_JOBS); retry when one ends",
                JOBS_RETRY_AFTER,
            )

    @contextlib.contextmanager
    def job_slot(self, session, identity, refused=None):
        """Admit one job: check the limits and hold the tenant's admission lock until the
        ``with`` body (which commits the job row) ends. ``refused()`` runs before a refusal
        is raised (the caller removes what it stored)."""
        name = f"dalston:limits:jobs-lock:{identity.tenant}"
        token = None
        if identity.limited and self.settings.max_concurrent_jobs > 0:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            with self._tolerant("job admission lock"):
                while (token := self.backend.lock(name, LOCK_TTL_MS)) is None:
                    if time.monotonic() > deadline:
                        if refused:
                            refused()
                        raise refuse(
                            503, "admission_busy", "too many submissions at once; retry", 1
                        )
                    time.sleep(0.02)
        try:
            try:
                self.check_jobs(session, identity)
            except ApiError:
                if refused:
                    refused()
                raise
            yield
        finally:
            if token is not None:
                with self._tolerant("job admission unlock"):
                    self.backend.unlock(name, token)

    # -- realtime sessions ----------------------------------------------------------------
    def acquire_session(self, identity) -> "Lease | None":
        limit = self.settings.realtime_sessions_per_key
        if not identity.limited or limit <= 0:
            return Lease(self.backend, None, "")
        lease = Lease(self.backend, f"dalston:limits:sessions:{identity.key_id}", uuid.uuid4().hex)
        granted = True
        with self._tolerant("session limit"):
            granted = self.backend.lease(lease.bucket, lease.member, limit, lease.ttl_ms)
        if not granted:
            return None
        lease.keep_alive()
        return lease


class Lease:
    """One realtime session's slot: renewed while the session lives, freed at its end."""

    def __init__(self, backend, bucket: str | None, member: str):
        self.backend, self.bucket, self.member = backend, bucket, member
        self.ttl_ms = int(LEASE_SECONDS * 1000)
        self._stop = threading.Event()

    def keep_alive(self) -> None:
        def renew():
            while not self._stop.wait(LEASE_SECONDS / 3):
                try:
                    self.backend.lease(self.bucket, self.member, 1 << 30, self.ttl_ms)
                except Exception as exc:  # Redis away: the lease lapses, the session goes on
                    log.warning("limits: session lease not renewed: %s", exc)

        threading.Thread(target=renew, name=f"lease-{self.member[:8]}", daemon=True).start()

    def release(self) -> None:
        self._stop.set()
        if self.bucket is not None:
            try:
                self.backend.unlease(self.bucket, self.member)
            except Exception as exc:
                log.warning("limits: session lease not released (it lapses): %s", exc)


# ---------------------------------------------------------------------------- the app's
def install(app, settings) -> Limits:
    """Give ``app`` its limits, and put ``Retry-After`` on the answers :func:`refuse` made."""
    limits = app.extensions["dalston.limits"] = Limits(settings)

    @app.after_request
    def _retry_after(response):
        seconds = g.pop("retry_after", None)
        if seconds is not None:
            response.headers["Retry-After"] = str(seconds)
        return response

    return limits


def current() -> Limits:
    return current_app.extensions["dalston.limits"]


def admit_job(session) -> None:
    """Refuse a job now (before its upload is stored) if a limit would refuse it."""
    current().check_jobs(session, g.identity)


def job_slot(session, refused=None):
    """``with job_slot(session):`` around the commit of a new job row (``Limits.job_slot``)."""
    return current().job_slot(session, g.identity, refused)


def acquire_session() -> Lease | None:
    """A slot for the caller's realtime session, or ``None`` when its key has them all."""
    return current().acquire_session(g.identity)


def release_session(lease: Lease | None) -> None:
    if lease is not None:
        lease.release()
