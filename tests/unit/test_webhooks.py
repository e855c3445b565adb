"""Webhook signing, the address guard and the backoff, without services.

Signatures are checked by the ``standardwebhooks`` package (the Standard Webhooks
reference library), not by Dalston's own code; the guard is exercised against a real
HTTP server on loopback.
"""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from dalston.config import Settings
from dalston.webhooks import delivery, guard, signing
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def test_signature_verifies_with_the_standard_webhooks_library():
    secret = signing.new_secret()
    body = json.dumps({"type": "transcription.completed", "data": {"id": "x"}}).encode()
    headers = signing.headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["data"]["id"] == "x"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_both_secrets_sign_during_a_rotation():
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"a": 1}'
    headers = signing.headers([new, old], "msg_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "ftp://example.com/hook",
    ],
)
def test_private_and_non_http_urls_are_refused(url):
    with pytest.raises(guard.Refused):
        guard.check(url, allow_private=False, allow_hosts=(), name="webhook_url")


def test_an_allowed_host_name_passes_but_its_address_does_not():
    guard.check("http://localhost:9/h", allow_private=False, allow_hosts=("localhost",), name="u")
    with pytest.raises(guard.Refused):
        guard.check(
            "http://127.0.0.1:9/h", allow_private=False, allow_hosts=("localhost",), name="u"
        )


@pytest.mark.parametrize("status", [307, 302])
def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(receiver, status):
    receiver.script("/hop", [("redirect", status, receiver.loopback_base + "/inside")])
    with pytest.raises(guard.Refused, match="private"):
        guard.post(
            receiver.allowed_base + "/hop",
            b"{}",
            {},
            timeout=5,
            allow_private=False,
            allow_hosts=("localhost",),
        )
    assert receiver.to("/hop") and not receiver.to("/inside")


def test_a_307_to_an_allowed_url_is_followed_with_the_body(receiver):
    receiver.script("/a", [("redirect", 307, "/b")])
    answer = guard.post(
        receiver.allowed_base + "/a",
        b'{"x": 1}',
        {"webhook-id": "m"},
        timeout=5,
        allow_private=False,
        allow_hosts=("localhost",),
    )
    assert answer.status_code == 200 and answer.url.endswith("/b")
    assert receiver.to("/b")[0]["body"] == b'{"x": 1}'


def test_backoff_doubles_up_to_its_cap():
    settings = Settings.from_env(
        {"DALSTON_WEBHOOK_RETRY_BASE_SECONDS": "2", "DALSTON_WEBHOOK_RETRY_MAX_SECONDS": "10"}
    )
    assert [delivery.backoff(settings, n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
