"""Tenant isolation through every API family: key A cannot see, export, cancel or delete
key B's data, and learns nothing from trying (404, exactly as for an unknown id).

The walk over ``app.url_map`` covers a route as soon as it is added: every route with an
argument must say what the argument names (:data:`OWNED`: a record some tenant owns, made
for B by a factory; :data:`PLAIN`: a value that names nobody's data) or be listed in
:data:`EXEMPT` with the reason; every method of it must then answer A with the same 404 as
an unknown id, leave B's record as it was, and still work for B itself (so a route that
answers 404 to everyone cannot pass). Every listing (a ``GET`` without arguments) must not
show B's ids to A. Jobs made through each family carry the maker's tenant.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid

import pytest
import sqlalchemy as sa

from dalston import auth
from dalston.app import create_app
from dalston.db.base import Base
from dalston.db.models import Job
from dalston.db.session import session_scope
from dalston.storage import keys as storage_keys
from tests.keys_helpers import (
    ADMIN,
    NATIVE,
    bearer,
    error_code,
    make_key,
    secure_settings,
    wav_bytes,
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: URL arguments that name no one's data, and the value a request uses.
PLAIN = {"fmt": "txt"}
#: Routes with arguments that hold no tenant's data, and why they are not walked.
EXEMPT = {
    "console.asset": "the web console's public static files",
    "elevenlabs_tokens.create_token": "token_type is a kind of token, not anyone's record",
    "admin.revoke_key": "admin scope only: a tenant key is refused (403) before any lookup, "
    "and keys are not tenant data (tests/api/test_keys.py)",
}


def _transcript() -> dict:
    words = [
        {"text": " Hello", "start": 0.0, "end": 0.4, "confidence": 0.9, "speaker": None},
        {"text": " world.", "start": 0.5, "end": 0.9, "confidence": 0.9, "speaker": None},
    ]
    segment = {"id": 0, "start": 0.0, "end": 0.9, "text": " Hello world.", "words": words}
    return {
        "text": "Hello world.",
        "language": "en",
        "language_probability": 1.0,
        "duration": 1.0,
        "segments": [dict(segment, speaker=None)],
        "words": words,
        "speakers": [],
        "warnings": [],
    }


def own_job(app, database_url: str, tenant: str) -> str:
    """A completed job of ``tenant``, with its transcript and stored audio."""
    job_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.timezone.utc)
    with session_scope(database_url) as session:
        session.add(
            Job(
                id=job_id,
                status="completed",
                model="tiny.en",
                options={"model": "tiny.en"},
                result=_transcript(),
                tenant_id=tenant,
                created_at=now,
                started_at=now,
                completed_at=now,
            )
        )
    app.extensions["dalston"].store.put_bytes(storage_keys.source(job_id), wav_bytes())
    return job_id


def own_row(table: str):
    """A factory of a ``table`` row owned by a tenant, filled from the ORM's own columns (so
    the realtime sessions table and any later tenant table are covered without a new factory).
    """

    def make(app, database_url: str, tenant: str) -> str:
        mapper = next((m for m in Base.registry.mappers if m.local_table.name == table), None)
        assert mapper is not None, f"no ORM class maps {table!r}"
        values, row_id = {}, None
        for column in mapper.local_table.columns:
            attr = mapper.get_property_by_column(column).key
            if column.name == "tenant_id":
                values[attr] = tenant
            elif column.primary_key:
                row_id = values[attr] = uuid.uuid4().hex if column.type.python_type is str else None
            elif column.name == "status":
                values[attr] = "completed"
            elif not column.nullable and column.default is None and column.server_default is None:
                values[attr] = _dummy(column.type.python_type)
        with session_scope(database_url) as session:
            row = mapper.class_(**values)
            session.add(row)
            session.flush()
            if row_id is None:  # an autoincrement key: known once flushed
                row_id = getattr(row, mapper.get_property_by_column(mapper.primary_key[0]).key)
        return str(row_id)

    make.table = table
    return make


def _dummy(kind):
    if kind is str:
        return "x"
    if kind in (int, float):
        return kind(0)
    if kind is bool:
        return False
    if kind is dt.datetime:
        return dt.datetime.now(dt.timezone.utc)
    return {}


own_job.table = "jobs"


def own_session(app, database_url: str, tenant: str) -> str:
    """A finished realtime session of ``tenant`` whose transcript was retained."""
    import json

    from dalston.db.models import RealtimeSessionRecord
    from dalston.realtime import retention

    session_id = own_row("realtime_sessions")(app, database_url, tenant)
    key = retention.transcript_key(session_id)
    app.extensions["dalston"].store.put_bytes(key, json.dumps(_transcript()).encode())
    with session_scope(database_url) as session:
        session.get(RealtimeSessionRecord, session_id).transcript_key = key
    return session_id


own_session.table = "realtime_sessions"

#: URL arguments that name a tenant's record, and how to make one for B (its ``table``).
OWNED = {
    "job_id": own_job,
    "transcription_id": own_job,
    "session_id": own_session,
    "endpoint_id": own_row("webhook_endpoints"),
}


@pytest.fixture
def app(postgres_url, redis_url, tmp_path):
    return create_app(
        secure_settings(
            postgres_url,
            tmp_path / "store",
            DALSTON_SYNC_TIMEOUT="0.2",
            DALSTON_OPENAI_SYNC_TIMEOUT="0.2",
        )
    )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tenants(postgres_url):
    """Keys of two fresh tenants: ``(tenant_a, key_a, tenant_b, key_b)``."""
    a, b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    return a, make_key(postgres_url, a), b, make_key(postgres_url, b)


def id_routes(app):
    """``(rule, methods)`` for every route with an argument, failing for one not described."""
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if not rule.arguments or rule.endpoint in EXEMPT:
            continue
        unknown = rule.arguments - set(OWNED) - set(PLAIN)
        assert not unknown, (
            f"{rule.rule} ({rule.endpoint}): say what {sorted(unknown)} names in "
            "tests/api/test_isolation.py (OWNED, PLAIN) or exempt the route with a reason"
        )
        assert rule.arguments & set(OWNED), f"{rule.rule}: no owned id; exempt it with a reason"
        out.append((rule, sorted(rule.methods - {"OPTIONS"})))
    return out


def _state(database_url: str, table: str, row_id: str):
    with session_scope(database_url) as session:
        return (
            session.execute(sa.text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id})
            .mappings()
            .first()
        )


def _code(resp) -> str | None:
    body = resp.get_json(silent=True)
    return error_code(body) if body else None


def test_key_a_gets_404_on_every_route_with_key_bs_id(app, client, postgres_url, tenants):
    _a, key_a, b, key_b = tenants
    adapter = app.url_map.bind("localhost")
    checked = set()
    for rule, methods in id_routes(app):
        for method in methods:
            owned = {arg: OWNED[arg](app, postgres_url, b) for arg in rule.arguments & set(OWNED)}
            unknown = {arg: str(uuid.uuid4()) for arg in owned}
            url = adapter.build(rule.endpoint, {**PLAIN, **owned}, method=method)
            unknown_url = adapter.build(rule.endpoint, {**PLAIN, **unknown}, method=method)
            arg, row_id = next(iter(owned.items()))
            table = OWNED[arg].table
            before = _state(postgres_url, table, row_id)

            foreign = client.open(url, method=method, headers=bearer(key_a))
            stranger = client.open(unknown_url, method=method, headers=bearer(key_a))
            assert foreign.status_code == 404, (method, rule.rule, foreign.get_data(as_text=True))
            assert stranger.status_code == 404, (method, rule.rule)
            if method != "HEAD":  # no oracle: a foreign id reads as an unknown one
                assert _code(foreign) == _code(stranger), (method, rule.rule)
            assert _state(postgres_url, table, row_id) == before, (method, rule.rule)

            mine = client.open(url, method=method, headers=bearer(key_b))
            assert mine.status_code != 404 and mine.status_code < 500, (
                method,
                rule.rule,
                mine.get_data(as_text=True),
            )
            checked.add((rule.endpoint, method))
    # the routes issue 10 names, through the native and ElevenLabs families
    assert {
        ("jobs.get_job", "GET"),
        ("jobs.export_job", "GET"),
        ("jobs.job_audio", "GET"),
        ("jobs.cancel_job", "POST"),
        ("jobs.delete_job", "DELETE"),
        ("elevenlabs.get_transcript", "GET"),
        ("elevenlabs.delete_transcript", "DELETE"),
    } <= checked


def test_no_listing_shows_key_a_what_key_b_owns(app, client, postgres_url, tenants):
    a, key_a, b, key_b = tenants
    theirs = own_job(app, postgres_url, b)
    mine = own_job(app, postgres_url, a)
    listings = 0
    for rule in app.url_map.iter_rules():
        if rule.arguments or "GET" not in rule.methods or auth.is_public(rule.rule):
            continue
        if getattr(rule, "websocket", False):
            continue
        resp = client.get(rule.rule, headers=bearer(key_a))
        assert theirs not in resp.get_data(as_text=True), rule.rule
        listings += 1
    assert listings >= 5
    # The native list is each tenant's own (and an admin's is everyone's).
    ids = lambda key: {  # noqa: E731
        j["id"]
        for j in client.get("/v1/audio/transcriptions?limit=100", headers=bearer(key)).get_json()[
            "jobs"
        ]
    }
    assert mine in ids(key_a) and theirs not in ids(key_a)
    assert theirs in ids(key_b) and mine not in ids(key_b)
    assert {mine, theirs} <= ids(ADMIN)


def _tenant_jobs(database_url: str, tenant: str) -> list[Job]:
    with session_scope(database_url) as session:
        rows = list(session.scalars(sa.select(Job).where(Job.tenant_id == tenant)))
        session.expunge_all()
    return rows


def test_jobs_made_through_every_family_belong_to_the_makers_tenant(client, postgres_url, tenants):
    a, key_a, b, key_b = tenants

    def upload():
        return {"file": (io.BytesIO(wav_bytes()), "a.wav")}

    native = client.post(
        "/v1/audio/transcriptions", data=upload(), headers={**NATIVE, **bearer(key_a)}
    )
    assert native.status_code == 201, native.get_json()
    eleven = client.post(
        "/v1/speech-to-text",
        data={**upload(), "model_id": "scribe_v1"},
        headers={"xi-api-key": key_a},
    )
    assert eleven.status_code in (200, 202), eleven.get_json()
    openai = client.post(
        "/v1/audio/transcriptions", data={**upload(), "model": "whisper-1"}, headers=bearer(key_a)
    )
    assert openai.status_code in (200, 400), openai.get_data(as_text=True)

    made = _tenant_jobs(postgres_url, a)
    assert len(made) == 3
    assert {(j.reply or {}).get("api") for j in made} >= {"openai"}
    assert _tenant_jobs(postgres_url, b) == []
    for job in made:
        resp = client.get(f"/v1/audio/transcriptions/{job.id}", headers=bearer(key_b))
        assert resp.status_code == 404 and _code(resp) == "job_not_found"
        mine = client.get(f"/v1/audio/transcriptions/{job.id}", headers=bearer(key_a))
        assert mine.status_code == 200
    transcription_id = eleven.get_json()["transcription_id"]
    resp = client.get(f"/v1/speech-to-text/transcripts/{transcription_id}", headers=bearer(key_b))
    assert resp.status_code == 404 and _code(resp) == "transcript_not_found"
    for job in made:
        client.post(f"/v1/audio/transcriptions/{job.id}/cancel", headers=bearer(key_a))
