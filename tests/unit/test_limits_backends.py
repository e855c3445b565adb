"""The two limits backends answer alike: Redis (every API process) and memory:// (embedded
mode's one process). Each step is checked on both, against the real Redis."""

from __future__ import annotations

import uuid

import pytest

from dalston.limits import MemoryBackend, RedisBackend


@pytest.fixture(params=["redis", "memory"])
def backend(request):
    if request.param == "memory":
        return MemoryBackend()
    return RedisBackend(request.getfixturevalue("redis_url"))


def test_the_rate_window_admits_the_limit_then_says_when(backend):
    bucket = f"test:rate:{uuid.uuid4().hex}"
    assert [backend.hit(bucket, 3, 60_000) for _ in range(3)] == [0, 0, 0]
    wait_ms = backend.hit(bucket, 3, 60_000)
    assert 0 < wait_ms <= 60_000


def test_leases_hold_the_limit_renew_and_free(backend):
    bucket = f"test:lease:{uuid.uuid4().hex}"
    assert backend.lease(bucket, "a", 2, 30_000) and backend.lease(bucket, "b", 2, 30_000)
    assert not backend.lease(bucket, "c", 2, 30_000)
    assert backend.lease(bucket, "a", 2, 30_000)  # a renewal is not a new slot
    backend.unlease(bucket, "a")
    assert backend.lease(bucket, "c", 2, 30_000)


def test_a_lock_is_held_once_and_freed_by_its_holder_only(backend):
    name = f"test:lock:{uuid.uuid4().hex}"
    token = backend.lock(name, 30_000)
    assert token and backend.lock(name, 30_000) is None
    backend.unlock(name, "someone else")
    assert backend.lock(name, 30_000) is None
    backend.unlock(name, token)
    assert backend.lock(name, 30_000)


def test_a_value_is_taken_once(backend):
    key = f"test:token:{uuid.uuid4().hex}"
    backend.put(key, "identity", 60)
    assert backend.take(key) == "identity"
    assert backend.take(key) is None
