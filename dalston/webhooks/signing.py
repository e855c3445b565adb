"""Standard Webhooks signing (https://www.standardwebhooks.com/).

The signed content is ``"<webhook-id>.<webhook-timestamp>.<body>"``; the key is the base64
part of the ``whsec_<base64>`` secret; the header is ``v1,<base64 HMAC-SHA256>``, one per
valid secret, space-separated (so a receiver that still holds the secret before a rotation
keeps verifying during the grace period). Receivers verify with any Standard Webhooks
library (the tests use the ``standardwebhooks`` package).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``body`` under ``secret``."""
    content = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in ``secrets_``."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets_),
    }
