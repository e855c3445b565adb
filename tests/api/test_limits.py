"""Limits shared by every API process, through Redis: rate, concurrent jobs, sessions, queue.

Over-rate answers are 429 with ``Retry-After`` in each family's shape (the status every SDK
family retries, api-compat.md). The concurrent-job and queue limits are shown across TWO
API processes (each ``create_app()`` under werkzeug in its own Python process, as gunicorn
workers are) on one PostgreSQL database of their own and their own ``redis-server``, with no
workers, so every admitted job stays unfinished. The session limit is shown across two API
processes on the realtime fixture's relay and worker.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from dalston.app import create_app
from dalston.db.models import Job
from dalston.db.session import session_scope
from tests.conftest import PG_ADMIN_URL
from tests.keys_helpers import (
    NATIVE,
    ApiProcess,
    bearer,
    drop_database,
    error_code,
    fresh_database,
    make_key,
    secure_settings,
    wav_bytes,
)


# --------------------------------------------------------------------------- rate
@pytest.fixture
def client(postgres_url, redis_url, tmp_path):
    return create_app(secure_settings(postgres_url, tmp_path / "store")).test_client()


@pytest.mark.parametrize(
    "method, path, header, shape",
    [
        ("GET", "/v1/audio/transcriptions", "Authorization", "error"),
        ("GET", "/v1/speech-to-text/transcripts/x", "xi-api-key", "detail"),
        ("POST", "/openai/v1/audio/transcriptions", "Authorization", "error"),
    ],
)
def test_over_rate_is_429_with_retry_after(client, postgres_url, method, path, header, shape):
    key = make_key(postgres_url, f"rate-{uuid.uuid4().hex[:6]}", rate_limit=3)
    headers = {header: key if header == "xi-api-key" else f"Bearer {key}"}
    for _ in range(3):
        assert client.open(path, method=method, headers=headers).status_code != 429
    over = client.open(path, method=method, headers=headers)
    body = over.get_json()
    assert over.status_code == 429 and set(body) == {shape}, body
    assert error_code(body) == "rate_limit_exceeded"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    # Another key of the same tenant has its own window.
    other = make_key(postgres_url, "other", rate_limit=3)
    assert client.get("/v1/audio/transcriptions", headers=bearer(other)).status_code == 200


# ---------------------------------------------------------------- two API processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    """A redis-server of this module's own (its queues are consumed by no worker)."""
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    import redis

    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def own_database(postgres_url):
    url = fresh_database(PG_ADMIN_URL)
    yield url
    drop_database(PG_ADMIN_URL, url)


@pytest.fixture(scope="module")
def two_apis(own_redis, own_database, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    env = secure_settings(
        own_database,
        tmp / "store",
        DALSTON_BROKER_URL=own_redis,
        DALSTON_RESULT_BACKEND=own_redis,
        DALSTON_REALTIME_URL=own_redis,
        DALSTON_MAX_CONCURRENT_JOBS="2",
        DALSTON_MAX_QUEUED_JOBS="4",
    )
    apis = []
    try:
        for i in range(2):
            apis.append(ApiProcess(env, tmp / f"api-{i}.log"))
        yield apis, tmp / "store"
    finally:
        for api in apis:
            api.stop()


def _submit(base: str, key: str):
    return requests.post(
        base + "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav_bytes())},
        headers={**NATIVE, **bearer(key)},
        timeout=120,
    )


def _active(database_url: str, tenant: str) -> int:
    with session_scope(database_url) as session:
        return session.scalar(
            sa.select(sa.func.count())
            .select_from(Job)
            .where(Job.tenant_id == tenant, Job.status.in_(("pending", "running")))
        )


def test_concurrent_jobs_and_a_full_queue_hold_across_two_processes(two_apis, own_database):
    (one, two), store = two_apis
    acme = make_key(own_database, "acme")
    # Eight submissions at once, half to each process: exactly the limit (2) are admitted.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _submit((one, two)[i % 2].http, acme), range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201, 201] + [429] * 6, [r.text for r in answers]
    for refused in (r for r in answers if r.status_code == 429):
        assert refused.json()["error"]["code"] == "concurrent_limit_exceeded"
        assert int(refused.headers["Retry-After"]) >= 1
    assert _active(own_database, "acme") == 2
    admitted = [r.json()["id"] for r in answers if r.status_code == 201]
    # A refused upload leaves nothing behind in storage.
    assert sorted(p.name for p in (store / "jobs").iterdir()) == sorted(admitted)

    # Cancelling one (through the other process) frees its slot.
    resp = requests.post(
        f"{two.http}/v1/audio/transcriptions/{admitted[0]}/cancel", headers=bearer(acme), timeout=30
    )
    assert resp.status_code == 200, resp.text
    assert _submit(one.http, acme).status_code == 201
    assert _submit(two.http, acme).status_code == 429

    # Another tenant fills the queue (4 waiting jobs in all): a third gets 503 queue_full.
    beta = make_key(own_database, "beta")
    assert [_submit(two.http, beta).status_code for _ in range(2)] == [201, 201]
    gamma = make_key(own_database, "gamma")
    full = _submit(one.http, gamma)
    assert full.status_code == 503 and full.json()["error"]["code"] == "queue_full"
    assert int(full.headers["Retry-After"]) >= 1
    assert _active(own_database, "gamma") == 0


# ------------------------------------------------------------------ realtime sessions
def test_concurrent_sessions_hold_across_two_processes(realtime, own_database, tmp_path):
    from simple_websocket import ConnectionClosed

    from tests.realtime_helpers import NativeClient

    env = {
        **realtime.settings,
        **secure_settings(own_database, tmp_path / "store"),
        "DALSTON_REALTIME_SESSIONS_PER_KEY": "1",
    }
    apis = [ApiProcess(env, tmp_path / f"rt-api-{i}.log") for i in range(2)]
    try:
        key = make_key(own_database, "live")
        path = "/v1/audio/transcriptions/stream"
        first = NativeClient(apis[0].ws + path, headers=bearer(key))
        assert first.recv()["type"] == "session.begin"
        second = NativeClient(apis[1].ws + path, headers=bearer(key))
        refusal = second.recv()
        assert refusal["type"] == "error" and refusal["code"] == "session_limit", refusal
        assert refusal["recoverable"] is True and refusal["retry_after_ms"] > 0
        with pytest.raises(ConnectionClosed) as closed:
            second.recv()
        assert closed.value.reason == 4429
        # Another key is not held back by this one's session.
        other = NativeClient(apis[1].ws + path, headers=bearer(make_key(own_database, "live")))
        assert other.recv()["type"] == "session.begin"
        for client in (first, other):
            client.ws.send(json.dumps({"type": "end"}))
            client.until("session.end", timeout=120)
        # The first session's end frees its slot for the other process (the lease goes when
        # the first process's handler returns, just after its last message).
        deadline = time.monotonic() + 30
        while True:
            again = NativeClient(apis[1].ws + path, headers=bearer(key))
            begin = again.recv()
            if begin["type"] == "session.begin" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert begin["type"] == "session.begin", begin
        again.ws.send(json.dumps({"type": "end"}))
        again.until("session.end", timeout=120)
    finally:
        for api in apis:
            api.stop()
