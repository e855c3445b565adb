"""HTTP blueprints: jobs (native API) and health/operations."""

from __future__ import annotations

from flask import current_app, g


def services():
    return current_app.extensions["dalston"]


def db():
    """The request's database session (closed on teardown)."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db
