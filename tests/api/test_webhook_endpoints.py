"""``/v1/webhooks``: create (secret once), list and get (no secret), update, rotate, delete;
tenant-owned (another tenant's id is 404 like an unknown one); the address guard."""

from __future__ import annotations

import uuid

import pytest

from tests.keys_helpers import bearer, make_key, secure_settings


@pytest.fixture
def app(postgres_url, redis_url, tmp_path):
    from dalston.app import create_app

    # No DNS here: the public-looking test host is let through by name.
    return create_app(
        secure_settings(
            postgres_url, tmp_path / "store", DALSTON_WEBHOOK_ALLOW_HOSTS="hooks.example.com"
        )
    )


@pytest.fixture
def tenant_client(app, postgres_url):
    """A client whose requests carry tenant ``a``'s or ``b``'s key (``client.keys``)."""
    client = app.test_client()
    run = uuid.uuid4().hex[:8]
    client.keys = {t: bearer(make_key(postgres_url, f"{t}-{run}")) for t in ("a", "b")}
    return client


def _tenant(client, tenant: str) -> dict[str, str]:
    return client.keys[tenant]


def _create(client, tenant, url="https://hooks.example.com/dalston", **extra):
    return client.post("/v1/webhooks", json={"url": url, **extra}, headers=_tenant(client, tenant))


def test_the_secret_is_shown_once_and_rotation_gives_a_new_one(tenant_client):
    resp = _create(tenant_client, "a", events=["transcription.failed"], description="ops")
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["secret"].startswith("whsec_") and created["events"] == ["transcription.failed"]
    hdr = _tenant(tenant_client, "a")
    got = tenant_client.get(f"/v1/webhooks/{created['id']}", headers=hdr).get_json()
    assert "secret" not in got and got["description"] == "ops"
    listed = tenant_client.get("/v1/webhooks", headers=hdr).get_json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    rotated = tenant_client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=hdr)
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"] not in (None, created["secret"])
    patched = tenant_client.patch(
        f"/v1/webhooks/{created['id']}", json={"enabled": False}, headers=hdr
    )
    assert patched.status_code == 200 and patched.get_json()["enabled"] is False
    assert tenant_client.delete(f"/v1/webhooks/{created['id']}", headers=hdr).status_code == 204
    assert tenant_client.get(f"/v1/webhooks/{created['id']}", headers=hdr).status_code == 404


def test_another_tenants_endpoint_is_404_like_an_unknown_one(tenant_client):
    mine = _create(tenant_client, "a").get_json()["id"]
    other = _tenant(tenant_client, "b")
    for method, path in [
        ("get", f"/v1/webhooks/{mine}"),
        ("patch", f"/v1/webhooks/{mine}"),
        ("delete", f"/v1/webhooks/{mine}"),
        ("post", f"/v1/webhooks/{mine}/rotate-secret"),
        ("get", "/v1/webhooks/00000000-0000-0000-0000-000000000000"),
    ]:
        resp = getattr(tenant_client, method)(path, json={}, headers=other)
        assert resp.status_code == 404, (method, path)
        assert resp.get_json()["error"]["code"] == "webhook_not_found"
    listed = tenant_client.get("/v1/webhooks", headers=other).get_json()["webhooks"]
    assert mine not in [w["id"] for w in listed]


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"url": "http://10.0.0.1/h"}, 400, "url_not_allowed"),
        ({"url": "http://169.254.169.254/latest"}, 400, "url_not_allowed"),
        ({"url": "not a url"}, 422, "validation_error"),
        ({"url": "https://hooks.example.com/", "events": ["job.done"]}, 422, "validation_error"),
    ],
)
def test_bad_endpoints_are_refused(tenant_client, body, status, code):
    resp = tenant_client.post("/v1/webhooks", json=body, headers=_tenant(tenant_client, "a"))
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code
