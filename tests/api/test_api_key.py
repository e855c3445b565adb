"""DALSTON_API_KEY guards every route but the public ones, in each API family's error shape.

The walk over ``app.url_map`` covers a route as soon as it is added: every rule and method
must answer 401 without the key (unless its path is in ``auth.PUBLIC_PATHS``), in the shape
of the family its blueprint belongs to, and must not answer 401 with it.
"""

import pytest

from dalston import auth
from dalston.app import create_app

KEY = "sekrit"

#: The family each blueprint's routes belong to (a new blueprint must be added here).
BLUEPRINT_FAMILY = {
    "jobs": "native",
    "health": "native",
    "elevenlabs": "elevenlabs",
    "openai": "openai",
    "console": "native",
    "admin": "native",
    "realtime_tokens": "native",
    "elevenlabs_tokens": "elevenlabs",
    "webhooks": "native",
    "metrics": "native",
    "realtime_sessions": "native",
}
#: The realtime blueprint holds each family's WebSocket route (and the native status).
REALTIME_FAMILY = {"/v1/speech-to-text/realtime": "elevenlabs", "/v1/realtime": "openai"}
#: ``POST /v1/audio/transcriptions`` (no blueprint: routed by the app) answers for two
#: families; each form below is one family's request (dalston.routing's rule).
SHARED_ENDPOINT = "transcriptions"
SHARED_REQUESTS = {
    "native": {"headers": {"Prefer": "respond-async"}, "data": {"model": "whisper-1"}},
    "native (no model)": {"data": {}},
    "openai": {"data": {"model": "whisper-1"}},
}


@pytest.fixture
def keyed_app(postgres_url, redis_url, tmp_path):
    return create_app(
        {
            "DALSTON_DATABASE_URL": postgres_url,
            "DALSTON_STORAGE_DIR": str(tmp_path / "store"),
            "DALSTON_API_KEY": KEY,
        }
    )


@pytest.fixture
def keyed(keyed_app):
    return keyed_app.test_client()


def shape_of(body: dict) -> str:
    """Which family's error shape ``body`` has (asserting it is exactly that shape)."""
    if set(body) == {"detail"}:
        assert set(body["detail"]) == {"type", "code", "message", "status", "request_id", "param"}
        return "elevenlabs"
    assert set(body) == {"error"}, body
    if set(body["error"]) == {"message", "type", "param", "code"}:
        return "openai"
    assert set(body["error"]) <= {"code", "message", "field"}, body
    return "native"


def requests_for(app):
    """Every (rule, method) of the app as a request: (family, method, url, extra kwargs)."""
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        url = adapter.build(rule.endpoint, {arg: "x" for arg in rule.arguments})
        for method in sorted(rule.methods):
            if rule.endpoint == SHARED_ENDPOINT and method == "POST":
                for family, kwargs in SHARED_REQUESTS.items():
                    yield family.split()[0], method, url, kwargs
                continue
            blueprint = rule.endpoint.rpartition(".")[0]
            if blueprint == "realtime":  # one WebSocket route per family: the path decides
                path = url.split("://", 1)[-1].partition("/")[2]  # ws://localhost/... → path
                yield REALTIME_FAMILY.get("/" + path, "native"), method, "/" + path, {}
                continue
            if rule.endpoint == SHARED_ENDPOINT:
                blueprint = "jobs"  # its OPTIONS: no form, so native
            assert blueprint in BLUEPRINT_FAMILY, f"{rule}: add its blueprint to BLUEPRINT_FAMILY"
            yield BLUEPRINT_FAMILY[blueprint], method, url, {}


def test_every_route_wants_the_key_in_its_familys_shape(keyed_app, keyed):
    checked = 0
    for family, method, url, kwargs in requests_for(keyed_app):
        if auth.is_public(url):
            continue
        for headers in ({}, {"xi-api-key": "wrong"}, {"Authorization": f"Bearer {KEY}x"}):
            resp = keyed.open(
                url,
                method=method,
                **{**kwargs, "headers": {**kwargs.get("headers", {}), **headers}},
            )
            assert resp.status_code == 401, (method, url, headers, resp.get_data(as_text=True))
            if method == "HEAD":
                continue
            body = resp.get_json()
            assert shape_of(body) == family, (method, url, body)
            code = body["detail"]["code"] if family == "elevenlabs" else body["error"]["code"]
            assert code == "invalid_api_key", (method, url, body)
            checked += 1
    assert checked > 40


@pytest.mark.parametrize("headers", [{"xi-api-key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_every_route_lets_the_key_through(keyed_app, keyed, headers):
    for family, method, url, kwargs in requests_for(keyed_app):
        resp = keyed.open(
            url, method=method, **{**kwargs, "headers": {**kwargs.get("headers", {}), **headers}}
        )
        assert resp.status_code != 401, (method, url, resp.get_data(as_text=True))
        if resp.status_code >= 400 and method != "HEAD":
            assert shape_of(resp.get_json()) == family, (method, url, resp.get_json())


def test_public_paths_need_no_key(keyed_app, keyed):
    paths = {rule.rule for rule in keyed_app.url_map.iter_rules()}
    assert auth.PUBLIC_PATHS <= paths  # no stale exceptions
    for path in auth.PUBLIC_PATHS:
        assert keyed.get(path).status_code in (200, 308), path
    for prefix in auth.PUBLIC_PREFIXES:  # the console's assets
        assert keyed.get(prefix + "console.js").status_code == 200


def test_an_unknown_path_is_401_too(keyed):
    resp = keyed.get("/v1/nothing-here")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_api_key"


def test_no_key_configured_lets_everything_through(client):
    assert client.get("/v1/audio/transcriptions").status_code == 200


def test_elevenlabs_route_wants_the_key(keyed):
    resp = keyed.get("/v1/speech-to-text/transcripts/x", headers={"xi-api-key": "wrong"})
    assert resp.status_code == 401 and resp.get_json()["detail"]["code"] == "invalid_api_key"
    for headers in ({"xi-api-key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        resp = keyed.get("/v1/speech-to-text/transcripts/x", headers=headers)
        assert resp.status_code == 404  # past the key: no such transcript


def test_openai_route_wants_the_key(keyed):
    form = {"model": "whisper-1"}
    resp = keyed.post("/openai/v1/audio/transcriptions", data=form)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_api_key"
    resp = keyed.post(
        "/openai/v1/audio/transcriptions", data=form, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "file"
