"""The Flask application factory. Importing this module connects to nothing."""

from __future__ import annotations

import logging
import os
from typing import Mapping

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from dalston.config import Settings
from dalston.errors import ApiError

log = logging.getLogger(__name__)


class Services:
    """What request handlers need, built once per app: settings, store, sessions, Celery."""

    def __init__(self, settings: Settings):
        from dalston.db.session import session_factory
        from dalston.storage import make_store

        self.settings = settings
        self.store = make_store(settings)
        self.sessions = session_factory(settings.database_url)

    @property
    def celery(self):
        from dalston.celery_app import app

        return app


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the API.

    Args:
        config: ``DALSTON_*`` settings that override the environment (tests use this).
    """
    settings = Settings.from_env({**os.environ, **(config or {})})
    app = Flask("dalston")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024
    app.json.sort_keys = False
    app.config.from_prefixed_env("DALSTON_FLASK")
    services = Services(settings)
    app.extensions["dalston"] = services

    from dalston.api import elevenlabs, health, jobs, openai

    app.register_blueprint(jobs.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(elevenlabs.bp)
    openai.register(app)

    @app.teardown_appcontext
    def _close_session(_exc):
        from flask import g

        session = g.pop("db", None)
        if session is not None:
            session.close()

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            413: "file_too_large",
            400: "bad_request",
            415: "unsupported_media_type",
        }
        message = exc.description or exc.name
        if exc.code == 413:
            message = (
                f"the request is larger than the {settings.max_upload_bytes // (1 << 20)} MB limit "
                "(DALSTON_MAX_UPLOAD_MB)"
            )
        body = ApiError(
            exc.code or 500, codes.get(exc.code, exc.name.lower().replace(" ", "_")), message
        )
        return jsonify(body.to_dict()), exc.code

    @app.errorhandler(Exception)
    def _internal_error(exc: Exception):
        log.exception("unhandled error")
        return jsonify(ApiError(500, "internal_error", "internal server error").to_dict()), 500

    return app
