"""The HTTP edge every API family shares, and the operations blueprints.

``services()`` and ``db()`` give a request handler what the app was built with;
:mod:`.submission` stores an upload, submits, waits for, cancels and deletes jobs the same
way for every family; :mod:`.health` is the operations blueprint (``/health``,
``/v1/system/status``, ``/v1/models``, ``/openapi.json``). The API families themselves
live in ``dalston.native``, ``dalston.elevenlabs`` and ``dalston.openai``, above this
package; ``dalston.app`` composes them.
"""

from __future__ import annotations

from flask import current_app, g


def services():
    return current_app.extensions["dalston"]


def db():
    """The request's database session (closed on teardown)."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db
