"""The one authentication hook: every HTTP route passes it (``app.before_request``).

With ``DALSTON_API_KEY`` set, every request must carry the key, as ``xi-api-key`` (the
ElevenLabs SDKs) or ``Authorization: Bearer`` (the OpenAI SDKs and most HTTP clients), on
any route of any family, except the paths in :data:`PUBLIC_PATHS` (and under
:data:`PUBLIC_PREFIXES`), which hold no data. A
request without it is answered ``401 invalid_api_key`` in its family's error shape (the
app's error handler asks ``dalston.routing.family_of``, as for every other error). An
unknown path is 401 too, so a client without the key learns nothing about the routes.

The hook is installed on the app, not on a blueprint, so a route added anywhere is covered
without doing anything; WebSocket routes are covered on their HTTP upgrade request.
``tests/api/test_api_key.py`` walks ``app.url_map`` to hold that. Keys are compared in
constant time (:func:`hmac.compare_digest`). Without ``DALSTON_API_KEY`` the hook lets
everything through.
"""

from __future__ import annotations

import hmac
from typing import Mapping

from flask import Flask, g, request

from dalston import routing
from dalston.errors import ApiError

#: The only paths a request may reach without the key: liveness, the API's description and
#: the web console's static shell (``dalston.console``: it holds no data, and asks for the
#: key before it calls the API).
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/console", "/console/"})
#: Prefixes reachable without the key: the console's static assets (its script and styles).
PUBLIC_PREFIXES = ("/console/assets/",)

#: The 401 message, in each family's words (ElevenLabs' and OpenAI's own wording).
MESSAGES: Mapping[routing.Family, str] = {
    "native": "a valid API key is required: send it as xi-api-key or Authorization: Bearer",
    "elevenlabs": "Invalid API key",
    "openai": "Incorrect API key provided",
}


def presented_keys(headers) -> list[str]:
    """The keys a request offers: its ``xi-api-key`` and its ``Authorization: Bearer`` token."""
    bearer = headers.get("Authorization", "")
    offered = [headers.get("xi-api-key", "")]
    if bearer[:7].lower() == "bearer ":
        offered.append(bearer[7:].strip())
    return [k for k in offered if k]


def key_accepted(expected: str, headers) -> bool:
    """Whether any key the request offers is ``expected`` (each compared in constant time)."""
    want = expected.encode()
    accepted = False
    for key in presented_keys(headers):
        accepted |= hmac.compare_digest(key.encode(), want)
    return accepted


#: The scopes a key may hold (issue 10 gives keys and tenants their meaning).
SCOPES = ("jobs:read", "jobs:write", "realtime", "webhooks", "admin")


def current_tenant() -> str | None:
    """The tenant whose data this request may see, or ``None`` for every tenant.

    ``None`` when the server runs without per-tenant keys, or the caller holds an admin
    key. Every query that lists or fetches a caller's data filters on it, and answers 404
    for another tenant's ids exactly as for unknown ones (no existence oracle).
    """
    return g.get("tenant_id")


def is_public(path: str) -> bool:
    """Whether ``path`` is one of the key-free paths above."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def install(app: Flask, api_key: str | None) -> None:
    """Make every request to ``app`` carry ``api_key`` (no-op when it is empty)."""

    @app.before_request
    def require_api_key():
        if not api_key or is_public(request.path):
            return None
        if not key_accepted(api_key, request.headers):
            raise ApiError(401, "invalid_api_key", MESSAGES[routing.family_of(request)])
        return None
