"""The realtime relay: how the API and realtime workers find each other and exchange frames.

Realtime audio never goes through the Celery queues. A realtime worker registers in Redis
with its capacity and keeps an ``alive`` key fresh (its heartbeat, with a TTL of
``DALSTON_REALTIME_HEARTBEAT_TIMEOUT``); the API reserves a slot with one Lua script
(atomic: two API processes can never take the last slot twice), which also drops workers
whose heartbeat has expired, so a dead worker's slots are free again within one heartbeat
timeout. Then, per session, two Redis lists: ``…:s:<id>:in`` (API → worker: audio and
control frames, in order) and ``…:s:<id>:out`` (worker → API: events). Lists rather than
pub/sub because a list keeps what was pushed before the other side started reading, and
``BLPOP`` wakes the reader at once (the measured relay overhead is in the README).

Frames on ``in`` are bytes: ``b"a" + PCM16LE 16 kHz mono`` or ``b"c" + JSON`` (a control
message: ``{"type": "commit"|"clear"|"config"|"end", …}``). Events on ``out`` are JSON.

:class:`MemoryRelay` is the same relay inside one process (embedded mode: no Redis), so
the worker and the API run the same code in both modes.
"""

from __future__ import annotations

import collections
import functools
import json
import threading
import time
import uuid

PREFIX = "dalston:rt:"
#: How long a session's lists outlive their last use (a safety net; sessions delete them).
SESSION_TTL = 600

_RESERVE = """
local workers = KEYS[1]
local sid, limit, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local best, best_free, total = nil, 0, 0
for _, id in ipairs(redis.call('HKEYS', workers)) do
  if redis.call('EXISTS', prefix .. 'w:' .. id .. ':alive') == 1 then
    local used = redis.call('SCARD', prefix .. 'w:' .. id .. ':sessions')
    local free = tonumber(redis.call('HGET', workers, id)) - used
    total = total + used
    if free > best_free then best, best_free = id, free end
  else
    redis.call('HDEL', workers, id)
    redis.call('DEL', prefix .. 'w:' .. id .. ':sessions', prefix .. 'w:' .. id .. ':inbox')
  end
end
if limit > 0 and total >= limit then return {'session_limit'} end
if not best then return {'no_capacity'} end
redis.call('SADD', prefix .. 'w:' .. best .. ':sessions', sid)
return {'ok', best}
"""


def audio_frame(pcm16: bytes) -> bytes:
    return b"a" + pcm16


def control_frame(message: dict) -> bytes:
    return b"c" + json.dumps(message).encode()


def parse_frame(frame: bytes) -> tuple[str, bytes | dict]:
    """``("audio", pcm16 bytes)`` or ``("control", message)``."""
    if frame[:1] == b"a":
        return "audio", frame[1:]
    return "control", json.loads(frame[1:])


class RedisRelay:
    """The relay over Redis (distributed mode)."""

    def __init__(self, url: str, heartbeat_timeout: float = 3.0):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.heartbeat_timeout = heartbeat_timeout
        self._reserve = self.redis.register_script(_RESERVE)

    # -- workers --------------------------------------------------------------------------
    def register(self, worker_id: str, capacity: int, info: dict) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(PREFIX + "workers", worker_id, capacity)
        pipe.set(PREFIX + f"w:{worker_id}:info", json.dumps(info))
        pipe.set(PREFIX + f"w:{worker_id}:alive", 1, px=int(self.heartbeat_timeout * 1000))
        pipe.execute()

    def heartbeat(self, worker_id: str) -> None:
        self.redis.set(PREFIX + f"w:{worker_id}:alive", 1, px=int(self.heartbeat_timeout * 1000))

    def unregister(self, worker_id: str) -> None:
        self.redis.hdel(PREFIX + "workers", worker_id)
        self.redis.delete(
            *(PREFIX + f"w:{worker_id}:{k}" for k in ("alive", "info", "sessions", "inbox"))
        )

    def worker_alive(self, worker_id: str) -> bool:
        return bool(self.redis.exists(PREFIX + f"w:{worker_id}:alive"))

    def next_session(self, worker_id: str, timeout: float) -> dict | None:
        got = self.redis.blpop([PREFIX + f"w:{worker_id}:inbox"], timeout=timeout)
        return json.loads(got[1]) if got else None

    def release(self, worker_id: str, session_id: str) -> None:
        self.redis.srem(PREFIX + f"w:{worker_id}:sessions", session_id)

    def status(self) -> dict:
        workers = []
        for wid, cap in self.redis.hgetall(PREFIX + "workers").items():
            wid = wid.decode()
            if not self.worker_alive(wid):
                continue
            info = json.loads(self.redis.get(PREFIX + f"w:{wid}:info") or "{}")
            used = self.redis.scard(PREFIX + f"w:{wid}:sessions")
            workers.append(dict(info, id=wid, capacity=int(cap), active_sessions=used))
        return _status(workers)

    # -- sessions -------------------------------------------------------------------------
    def reserve(self, session_id: str, limit: int = 0) -> tuple[str, str | None]:
        """``("ok", worker_id)``, ``("no_capacity", None)`` or ``("session_limit", None)``."""
        out = self._reserve(keys=[PREFIX + "workers"], args=[session_id, limit, PREFIX])
        status = out[0].decode()
        return status, (out[1].decode() if len(out) > 1 else None)

    def start(self, worker_id: str, session_id: str, config: dict) -> None:
        message = json.dumps({"session_id": session_id, "config": config})
        self.redis.rpush(PREFIX + f"w:{worker_id}:inbox", message)

    def push_input(self, session_id: str, frame: bytes) -> None:
        key = PREFIX + f"s:{session_id}:in"
        pipe = self.redis.pipeline()
        pipe.rpush(key, frame)
        pipe.expire(key, SESSION_TTL)
        pipe.execute()

    def pop_input(self, session_id: str, timeout: float, most: int = 200) -> list[bytes]:
        """Every frame waiting (at least one, or none after ``timeout`` seconds)."""
        key = PREFIX + f"s:{session_id}:in"
        got = self.redis.blpop([key], timeout=timeout)
        if not got:
            return []
        return [got[1]] + (self.redis.lpop(key, most) or [])

    def push_event(self, session_id: str, event: dict) -> None:
        key = PREFIX + f"s:{session_id}:out"
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(event))
        pipe.expire(key, SESSION_TTL)
        pipe.execute()

    def pop_events(self, session_id: str, timeout: float) -> list[dict]:
        key = PREFIX + f"s:{session_id}:out"
        got = self.redis.blpop([key], timeout=timeout)
        if not got:
            return []
        rest = self.redis.lpop(key, 100) or []
        return [json.loads(m) for m in [got[1], *rest]]

    def drop_session(self, session_id: str) -> None:
        self.redis.delete(PREFIX + f"s:{session_id}:in", PREFIX + f"s:{session_id}:out")


class MemoryRelay:
    """The relay inside one process (embedded mode): the same calls, no Redis."""

    def __init__(self, heartbeat_timeout: float = 3.0):
        self.heartbeat_timeout = heartbeat_timeout
        self._cond = threading.Condition()
        self._workers: dict[str, dict] = {}
        self._queues: dict[str, collections.deque] = collections.defaultdict(collections.deque)

    def _pop(self, key: str, timeout: float, most: int) -> list:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queues[key]:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            queue = self._queues[key]
            return [queue.popleft() for _ in range(min(most, len(queue)))]

    def _push(self, key: str, item) -> None:
        with self._cond:
            self._queues[key].append(item)
            self._cond.notify_all()

    def register(self, worker_id, capacity, info):
        with self._cond:
            self._workers[worker_id] = dict(
                capacity=capacity, info=info, sessions=set(), alive=time.monotonic()
            )

    def heartbeat(self, worker_id):
        with self._cond:
            if worker_id in self._workers:
                self._workers[worker_id]["alive"] = time.monotonic()

    def unregister(self, worker_id):
        with self._cond:
            self._workers.pop(worker_id, None)

    def worker_alive(self, worker_id):
        worker = self._workers.get(worker_id)
        return bool(worker) and time.monotonic() - worker["alive"] < self.heartbeat_timeout

    def next_session(self, worker_id, timeout):
        got = self._pop(f"inbox:{worker_id}", timeout, 1)
        return got[0] if got else None

    def release(self, worker_id, session_id):
        with self._cond:
            if worker_id in self._workers:
                self._workers[worker_id]["sessions"].discard(session_id)

    def status(self):
        with self._cond:
            workers = [
                dict(w["info"], id=i, capacity=w["capacity"], active_sessions=len(w["sessions"]))
                for i, w in self._workers.items()
                if self.worker_alive(i)
            ]
        return _status(workers)

    def reserve(self, session_id, limit=0):
        with self._cond:
            live = {i: w for i, w in self._workers.items() if self.worker_alive(i)}
            if limit > 0 and sum(len(w["sessions"]) for w in live.values()) >= limit:
                return "session_limit", None
            free = {i: w["capacity"] - len(w["sessions"]) for i, w in live.items()}
            best = max(free, key=free.get, default=None)
            if best is None or free[best] <= 0:
                return "no_capacity", None
            live[best]["sessions"].add(session_id)
            return "ok", best

    def start(self, worker_id, session_id, config):
        self._push(f"inbox:{worker_id}", {"session_id": session_id, "config": config})

    def push_input(self, session_id, frame):
        self._push(f"in:{session_id}", frame)

    def pop_input(self, session_id, timeout, most=200):
        return self._pop(f"in:{session_id}", timeout, most)

    def push_event(self, session_id, event):
        self._push(f"out:{session_id}", json.loads(json.dumps(event)))

    def pop_events(self, session_id, timeout):
        return self._pop(f"out:{session_id}", timeout, 100)

    def drop_session(self, session_id):
        with self._cond:
            self._queues.pop(f"in:{session_id}", None)
            self._queues.pop(f"out:{session_id}", None)


def _status(workers: list[dict]) -> dict:
    capacity = sum(w["capacity"] for w in workers)
    active = sum(w["active_sessions"] for w in workers)
    return {
        "status": "ready" if workers else "unavailable",
        "worker_count": len(workers),
        "total_capacity": capacity,
        "active_sessions": active,
        "available_capacity": max(capacity - active, 0),
        "workers": workers,
    }


@functools.lru_cache(maxsize=None)
def memory_relay(heartbeat_timeout: float = 3.0) -> MemoryRelay:
    """The process's one in-memory relay (embedded mode's API and worker share it)."""
    return MemoryRelay(heartbeat_timeout)


def make_relay(url: str, heartbeat_timeout: float):
    """The relay for ``url``: ``memory://`` (embedded mode) or a Redis URL."""
    if url.startswith("memory://"):
        return memory_relay(heartbeat_timeout)
    return RedisRelay(url, heartbeat_timeout)


def new_session_id() -> str:
    return uuid.uuid4().hex
