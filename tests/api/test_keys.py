"""API keys over the admin endpoints: create with scopes, use, 403 outside them, revoke, 401.

The server requires keys (``DALSTON_REQUIRE_AUTH=true``) with a bootstrap admin key
(``DALSTON_API_KEY``); keys are made through ``POST /v1/admin/keys`` as an operator would,
then used by each API family. The database is read directly to show it holds no key.
(``tests/cli/test_keys_cli.py`` walks the same life through ``dalston keys``.)
"""

from __future__ import annotations

import io
import json
import threading

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from dalston import auth
from dalston.app import create_app
from dalston.db.session import get_engine
from tests.keys_helpers import ADMIN, NATIVE, bearer, error_code, secure_settings, wav_bytes

ADMIN_HEADERS = bearer(ADMIN)


@pytest.fixture
def app(postgres_url, redis_url, tmp_path):
    return create_app(secure_settings(postgres_url, tmp_path / "store"))


@pytest.fixture
def client(app):
    return app.test_client()


def create_key(client, **body):
    resp = client.post("/v1/admin/keys", json=body, headers=ADMIN_HEADERS)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def native_submit(client, headers):
    data = {"file": (io.BytesIO(wav_bytes()), "a.wav")}
    return client.post("/v1/audio/transcriptions", data=data, headers={**NATIVE, **headers})


def test_key_lifecycle_over_the_admin_endpoints(client, postgres_url):
    made = create_key(client, name="reader", scopes=["jobs:read"], tenant="acme")
    key = made["key"]
    assert key.startswith(f"dsk_{made['id']}_") and made["prefix"] == f"dsk_{made['id']}_"
    assert made["tenant"] == "acme" and made["scopes"] == ["jobs:read"] and made["active"]

    # use: both headers every SDK family sends
    for headers in (bearer(key), {"xi-api-key": key}):
        assert client.get("/v1/audio/transcriptions", headers=headers).status_code == 200
        resp = client.get("/v1/speech-to-text/transcripts/nope", headers=headers)
        assert (
            resp.status_code == 404 and resp.get_json()["detail"]["code"] == "transcript_not_found"
        )

    # outside its scopes: 403 insufficient_scope, in each family's shape
    outside = [
        (native_submit(client, bearer(key)), "error"),
        (client.post("/v1/speech-to-text", headers={"xi-api-key": key}), "detail"),
        (
            client.post(
                "/openai/v1/audio/transcriptions", data={"model": "whisper-1"}, headers=bearer(key)
            ),
            "error",
        ),
        (client.get("/v1/admin/keys", headers=bearer(key)), "error"),
        (client.post("/v1/realtime/tokens", headers=bearer(key)), "error"),
    ]
    for resp, shape in outside:
        body = resp.get_json()
        assert resp.status_code == 403 and set(body) == {shape}, body
        assert error_code(body) == "insufficient_scope", body
    assert (
        "type"
        in client.post(
            "/openai/v1/audio/transcriptions", data={"model": "whisper-1"}, headers=bearer(key)
        ).get_json()["error"]
    )  # OpenAI's own shape

    # listed (never with a secret), then revoked: 401 from then on
    listed = client.get("/v1/admin/keys", headers=ADMIN_HEADERS).get_json()["keys"]
    assert [k["id"] for k in listed if k["id"] == made["id"]] == [made["id"]]
    assert key not in json.dumps(listed)
    revoked = client.delete(f"/v1/admin/keys/{made['id']}", headers=ADMIN_HEADERS)
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    for headers in (bearer(key), {"xi-api-key": key}):
        resp = client.get("/v1/audio/transcriptions", headers=headers)
        assert resp.status_code == 401 and error_code(resp.get_json()) == "invalid_api_key"
    resp = client.get("/v1/speech-to-text/transcripts/nope", headers={"xi-api-key": key})
    assert resp.status_code == 401 and resp.get_json()["detail"]["code"] == "invalid_api_key"

    # the database holds the id and an HMAC, never the key or its secret
    secret = key.split("_", 2)[2]
    with get_engine(postgres_url).connect() as conn:
        row = (
            conn.execute(sa.text("SELECT * FROM api_keys WHERE id = :id"), {"id": made["id"]})
            .mappings()
            .one()
        )
        dump = json.dumps({k: str(v) for k, v in row.items()})
    assert key not in dump and secret not in dump
    assert len(row["secret_hash"]) == 64 and row["revoked_at"] is not None


def test_a_writer_submits_and_the_job_carries_its_tenant(client, postgres_url):
    key = create_key(client, name="writer", scopes="jobs:read,jobs:write", tenant="acme")["key"]
    resp = native_submit(client, bearer(key))
    assert resp.status_code == 201, resp.get_json()
    job_id = resp.get_json()["id"]
    with get_engine(postgres_url).connect() as conn:
        tenant = conn.execute(
            sa.text("SELECT tenant_id FROM jobs WHERE id = :id"), {"id": job_id}
        ).scalar()
    assert tenant == "acme"
    assert client.get(f"/v1/audio/transcriptions/{job_id}", headers=bearer(key)).status_code == 200


def test_admin_endpoints_refuse_bad_input(client):
    for body, field in (({}, "name"), ({"name": "x", "scopes": ["jobs:read", "root"]}, None)):
        resp = client.post("/v1/admin/keys", json=body, headers=ADMIN_HEADERS)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"
    resp = client.post(
        "/v1/admin/keys", json={"name": "x", "tenant": "../etc"}, headers=ADMIN_HEADERS
    )
    assert resp.status_code == 422
    resp = client.delete("/v1/admin/keys/000000000000", headers=ADMIN_HEADERS)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "key_not_found"


def test_keys_with_no_scopes_named_get_the_defaults_and_admin_keys_see_every_tenant(client):
    made = create_key(client, name="plain")
    assert made["scopes"] == ["jobs:read", "jobs:write", "realtime"] and made["tenant"] == "default"
    admin = create_key(client, name="ops", scopes=["admin"], tenant="ops")["key"]
    assert client.get("/v1/admin/keys", headers=bearer(admin)).status_code == 200
    assert client.post("/v1/realtime/tokens", headers=bearer(admin)).status_code == 201


def test_a_missing_or_malformed_key_is_401(client):
    for headers in ({}, bearer("dsk_nothing"), bearer("dsk_000000000000_" + "x" * 43)):
        resp = client.get("/v1/audio/transcriptions", headers=headers)
        assert resp.status_code == 401 and error_code(resp.get_json()) == "invalid_api_key"


def test_every_scope_is_required_somewhere_and_reads_are_not_writes():
    assert auth.required_scope("GET", "/v1/audio/transcriptions") == "jobs:read"
    assert auth.required_scope("HEAD", "/v1/audio/transcriptions/x") == "jobs:read"
    assert auth.required_scope("DELETE", "/v1/speech-to-text/transcripts/x") == "jobs:write"
    assert auth.required_scope("POST", "/v1/audio/transcriptions/x/cancel") == "jobs:write"
    assert auth.required_scope("GET", "/v1/speech-to-text/realtime", websocket=True) == "realtime"
    assert auth.required_scope("GET", "/v1/webhooks") == "webhooks"
    assert auth.required_scope("DELETE", "/v1/admin/keys/x") == "admin"
    assert auth.required_scope("POST", "/v1/single-use-token/realtime_scribe") == "realtime"
    assert auth.required_scope("POST", "/v1/single-use-token/batch_scribe") == "jobs:write"
    assert auth.required_scope("GET", "/v1/realtime/sessions") == "realtime"


# ------------------------------------------------------------------ single-use tokens
@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _handshake(host: str, path: str, headers=None):
    """Open a WebSocket; its first message (None if it closed without one)."""
    import simple_websocket

    from tests.realtime_helpers import connect

    ws = connect(f"ws://{host}{path}", headers)
    try:
        return ws.receive(timeout=30)
    except simple_websocket.ConnectionClosed:
        return None
    finally:
        # The server may close first (its message, then a close frame): simple_websocket's
        # reader thread then closes the socket, and a close() racing it fails with EBADF.
        try:
            ws.close()
        except (OSError, simple_websocket.ConnectionClosed):
            pass


@pytest.mark.parametrize(
    "issue, path",
    [
        ("/v1/single-use-token/realtime_scribe", "/v1/speech-to-text/realtime"),
        ("/v1/realtime/tokens", "/v1/audio/transcriptions/stream"),
    ],
)
def test_a_single_use_token_opens_one_websocket_once(client, server, issue, path):
    import simple_websocket

    key = create_key(client, name="rt", scopes=["realtime"], tenant="acme")["key"]
    resp = client.post(issue, headers={"xi-api-key": key})
    assert resp.status_code in (200, 201), resp.get_json()
    token = resp.get_json()["token"]
    assert token.startswith("dst_")
    # No key on the handshake: the token alone authenticates it. Past auth the session
    # starts, or finds no realtime worker and says so in its protocol: a message either way.
    first = _handshake(server, f"{path}?token={token}")
    assert first is not None
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        _handshake(server, f"{path}?token={token}")
    assert refused.value.status_code == 401
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        _handshake(server, path)
    assert refused.value.status_code == 401


def test_a_realtime_token_is_not_a_key(client, server):
    key = create_key(client, name="rt", scopes=["realtime", "jobs:read"])["key"]
    token = client.post("/v1/realtime/tokens", headers=bearer(key)).get_json()["token"]
    resp = client.get(f"/v1/audio/transcriptions?token={token}")
    assert resp.status_code == 401
    resp = client.get("/v1/audio/transcriptions", headers=bearer(token))
    assert resp.status_code == 401


def test_a_batch_token_authenticates_one_elevenlabs_request(client):
    key = create_key(client, name="batch", scopes=["jobs:write"], tenant="acme")["key"]
    token = client.post(
        "/v1/single-use-token/batch_scribe", headers={"xi-api-key": key}
    ).get_json()["token"]
    resp = client.post(f"/v1/speech-to-text?token={token}", data={"model_id": "scribe_v1"})
    assert resp.status_code == 400 and resp.get_json()["detail"]["code"] != "invalid_api_key"
    resp = client.post(f"/v1/speech-to-text?token={token}", data={"model_id": "scribe_v1"})
    assert resp.status_code == 401 and resp.get_json()["detail"]["code"] == "invalid_api_key"
    resp = client.post("/v1/single-use-token/realtime_scribe", headers={"xi-api-key": key})
    assert resp.status_code == 403  # a realtime token needs the realtime scope
    resp = client.post("/v1/single-use-token/tts_websocket", headers={"xi-api-key": ADMIN})
    assert resp.status_code == 400 and resp.get_json()["detail"]["code"] == "invalid_token_type"
