"""HTTP blueprints: jobs (native API) and health/operations."""

from __future__ import annotations

from flask import current_app, g, request


def services():
    return current_app.extensions["dalston"]


def db():
    """The request's database session (closed on teardown)."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db


def api_key_accepted() -> bool:
    """With ``DALSTON_API_KEY`` set, whether the request carries it, the ElevenLabs way
    (``xi-api-key``) or the OpenAI way (``Authorization: Bearer``): clients of either API
    may call either family of routes."""
    key = services().settings.api_key
    if not key:
        return True
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return key in (request.headers.get("xi-api-key"), bearer)
