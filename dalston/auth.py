"""The one authentication hook: every HTTP route and WebSocket handshake passes it.

:func:`install` puts one ``before_request`` hook on the app (not on a blueprint, so a route
added anywhere is covered without doing anything; a WebSocket route on its HTTP upgrade
request). For every path but :data:`PUBLIC_PATHS` (and under :data:`PUBLIC_PREFIXES`),
which hold no data, it

1. finds who is calling (:mod:`dalston.keys`): an API key as ``Authorization: Bearer`` (the
   OpenAI SDKs, most HTTP clients) or ``xi-api-key`` (the ElevenLabs SDKs): a ``dsk_`` key
   from the database, or ``DALSTON_API_KEY``, a bootstrap admin key from the environment
   (compared in constant time); or, on a WebSocket handshake (and ElevenLabs' batch
   ``POST /v1/speech-to-text``), a single-use ``?token=``, consumed on use;
2. answers ``401 invalid_api_key`` for a missing, unknown or revoked key or token (an
   unknown path too, so a client without a key learns nothing about the routes), and
   ``403 insufficient_scope`` when the key lacks the scope :func:`required_scope` names;
3. sets ``g.identity``, ``g.tenant_id`` (``None`` for admin keys: every tenant),
   ``g.key_id`` and ``g.scopes``, and counts the request against the key's rate limit
   (:mod:`dalston.limits`, 429 with ``Retry-After``).

Errors are raised as :class:`~dalston.errors.ApiError` and rendered in the request's family
shape by the app's error handler (``dalston.routing.family_of``).

**When a key is required** (:func:`auth_required`): ``DALSTON_REQUIRE_AUTH=true|false``
decides if set; otherwise with ``DALSTON_API_KEY`` set, and in distributed mode, always;
embedded mode (SQLite) serving on loopback runs open, and says so at start-up. An open
server still checks any ``dsk_`` key or token presented (a tenant's key sees its tenant
only); other strings (an SDK's placeholder key) are ignored there.

Data queries ask :func:`current_tenant`; ``tests/api/test_isolation.py`` walks
``app.url_map`` to hold every route with an id to it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Mapping

from flask import Flask, current_app, g, request

from dalston import keys, limits, routing
from dalston.errors import ApiError

log = logging.getLogger(__name__)

#: The only paths a request may reach without the key: liveness, the API's description and
#: the web console's static shell (``dalston.console``: it holds no data, and asks for the
#: key before it calls the API).
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/console", "/console/"})
#: Prefixes reachable without the key: the console's static assets (its script and styles).
PUBLIC_PREFIXES = ("/console/assets/",)

#: The scopes a key may hold (``admin`` implies the others).
SCOPES = keys.SCOPES
#: Paths (and everything below them) whose routes need one scope whatever the method.
SCOPE_PREFIXES = (
    ("/v1/admin", "admin"),
    # Operators' figures (queue depths, job counts over every tenant): admin keys only.
    ("/metrics", "admin"),
    ("/v1/webhooks", "webhooks"),
    ("/v1/realtime", "realtime"),
    ("/v1/single-use-token", "realtime"),
)
#: ElevenLabs' batch-token route: the token it makes submits a job, so it needs jobs:write.
BATCH_TOKEN_PATH = "/v1/single-use-token/batch_scribe"
#: Where a ``batch`` single-use token is accepted (ElevenLabs: "Batch accepts ``?token=``").
BATCH_TOKEN_ROUTES = frozenset({("POST", "/v1/speech-to-text")})

#: The 401 message, in each family's words (ElevenLabs' and OpenAI's own wording).
MESSAGES: Mapping[routing.Family, str] = {
    "native": "a valid API key is required: send it as xi-api-key or Authorization: Bearer",
    "elevenlabs": "Invalid API key",
    "openai": "Incorrect API key provided",
}
TOKEN_MESSAGE = "the single-use token is unknown, expired or already used"


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


def current_tenant() -> str | None:
    """The tenant whose data this request may see, or ``None`` for every tenant.

    ``None`` when the caller holds an admin key, or the server runs open and the caller
    presented no tenant key. Every query that lists or fetches a caller's data filters on
    it, and answers 404 for another tenant's ids exactly as for unknown ones (no existence
    oracle).
    """
    return g.get("tenant_id")


def is_public(path: str) -> bool:
    """Whether ``path`` is one of the key-free paths above."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_websocket(req) -> bool:
    return req.headers.get("Upgrade", "").lower() == "websocket"


def required_scope(method: str, path: str, websocket: bool = False) -> str:
    """The scope a request needs: the one rule for every route.

    A WebSocket handshake needs ``realtime``; ``/v1/admin…`` and ``/metrics`` ``admin``;
    ``/v1/webhooks…`` ``webhooks``; ``/v1/realtime…`` and the single-use-token routes
    ``realtime`` (a batch token ``jobs:write``); any other read (GET, HEAD, OPTIONS)
    ``jobs:read`` and any other write ``jobs:write``.
    """
    if websocket:
        return "realtime"
    if path == BATCH_TOKEN_PATH:
        return "jobs:write"
    for prefix, scope in SCOPE_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return scope
    return "jobs:read" if method in ("GET", "HEAD", "OPTIONS") else "jobs:write"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_required(settings) -> tuple[bool, str]:
    """Whether callers must present a key, and why (for the start-up line)."""
    if settings.require_auth is not None:
        return (settings.require_auth, f"DALSTON_REQUIRE_AUTH={str(settings.require_auth).lower()}")
    if settings.api_key:
        return True, "DALSTON_API_KEY is set"
    if settings.database_url.startswith("sqlite") and _loopback(settings.api_host):
        return False, f"embedded mode serving on loopback ({settings.api_host})"
    return True, "distributed mode"


def _unauthorized(message: str | None = None) -> ApiError:
    return ApiError(401, "invalid_api_key", message or MESSAGES[routing.family_of(request)])


def _token_use() -> str | None:
    if is_websocket(request):
        return "realtime"
    if (request.method, request.path) in BATCH_TOKEN_ROUTES:
        return "batch"
    return None


def identify(settings, required: bool, backend) -> keys.Identity:
    """Who the current request is (see the module docstring); raises the 401."""
    token, use = request.args.get("token"), _token_use()
    if token and use:
        identity = keys.redeem_token(backend, token, use)
        if identity is None:
            raise _unauthorized(TOKEN_MESSAGE)
        return identity
    offered = presented_keys(request.headers)
    for presented in offered:
        if settings.api_key and hmac.compare_digest(presented.encode(), settings.api_key.encode()):
            return keys.BOOTSTRAP
        if keys.looks_like_key(presented):
            session = current_app.extensions["dalston"].sessions()
            try:
                identity = keys.verify(session, presented, settings.key_hash_secret)
            finally:
                session.close()
            if identity is None:
                raise _unauthorized()
            return identity
    if required:
        raise _unauthorized()
    return keys.ANONYMOUS


def install(app: Flask, settings) -> None:
    """Authenticate every request to ``app`` (see the module docstring)."""
    required, why = auth_required(settings)
    app_limits = limits.install(app, settings)
    if required:
        log.info("API keys are required (%s)", why)
    else:
        log.warning(
            "Dalston is OPEN: requests need no API key (%s); set DALSTON_REQUIRE_AUTH=true "
            "to require keys",
            why,
        )

    @app.before_request
    def authenticate():
        g.identity, g.tenant_id, g.key_id, g.scopes = keys.ANONYMOUS, None, None, SCOPES
        if is_public(request.path):
            return None
        identity = identify(settings, required, app_limits.backend)
        scope = required_scope(request.method, request.path, is_websocket(request))
        if not identity.allows(scope):
            raise ApiError(
                403,
                "insufficient_scope",
                f"this key lacks the {scope!r} scope that {request.method} {request.path} "
                f"needs (it holds: {', '.join(sorted(identity.scopes)) or 'none'})",
            )
        g.identity, g.tenant_id = identity, identity.tenant
        g.key_id, g.scopes = identity.key_id, tuple(sorted(identity.scopes))
        app_limits.check_rate(identity)
        return None
