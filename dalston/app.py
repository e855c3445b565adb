"""The Flask application factory: the composition root. Importing this module connects to
nothing.

It mounts the three API families (``dalston.native``, ``dalston.elevenlabs``,
``dalston.openai``, which never import each other) and the operations blueprint
(``dalston.api.health``), routes the one path two families share, installs the one
authentication hook (``dalston.auth``) and renders every error in the shape of the family
the request belongs to (``dalston.routing.family_of``).
"""

from __future__ import annotations

from typing import Mapping

from flask import Flask, g, make_response, request

from dalston import auth, logging_setup, routing
from dalston.admin import views as admin_views
from dalston.api import health
from dalston.api import metrics as metrics_view
from dalston.celery_app import app as celery_app
from dalston.config import Settings
from dalston.console import bp as console_bp
from dalston.db.session import session_factory
from dalston.elevenlabs import errors as elevenlabs_errors
from dalston.elevenlabs import tokens as elevenlabs_tokens
from dalston.elevenlabs import views as elevenlabs_views
from dalston.errors import ApiError, as_api_error
from dalston.native import errors as native_errors
from dalston.native import openapi as native_openapi
from dalston.native import tokens as native_tokens
from dalston.native import views as native_views
from dalston.openai import errors as openai_errors
from dalston.openai import views as openai_views
from dalston.realtime import routes as realtime_routes
from dalston.realtime import sock
from dalston.relay import make_relay
from dalston.storage import make_store
from dalston.webhooks import views as webhooks_views

#: Each family's error handler: every error of a request is answered in its family's shape.
ERROR_HANDLERS = {
    "native": native_errors.handle,
    "elevenlabs": elevenlabs_errors.handle,
    "openai": openai_errors.handle,
}
#: What each family adds to ``/openapi.json``.
OPENAPI = (native_openapi.describe, webhooks_views.describe)


class Services:
    """What request handlers need, built once per app: settings, store, sessions, Celery."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = make_store(settings)
        self.sessions = session_factory(settings.database_url)
        self.openapi = OPENAPI
        # realtime: Redis (or embedded mode's in-process relay); connects on first use
        self.relay = make_relay(settings.realtime_url, settings.realtime_heartbeat_timeout)

    @property
    def celery(self):
        return celery_app


def transcriptions():
    """``POST /v1/audio/transcriptions``, shared by the native and OpenAI APIs: the rule in
    ``dalston.routing`` decides which family answers."""
    if routing.is_openai_request(request):
        return openai_views.transcriptions()
    return native_views.create_job()


def refuse_nul_bytes() -> None:
    """400 for a NUL byte in the path, the query, a form field or a file name.

    No id, cursor or name holds one, and PostgreSQL cannot store one: refused here, once,
    for every family, instead of failing in the database.
    """
    where = None
    if "\x00" in request.path:
        where = "path"
    else:
        where = next((k for k, v in request.args.items(multi=True) if "\x00" in f"{k}{v}"), None)
        if where is None and request.method in ("POST", "PUT", "PATCH"):
            fields = request.form.items(multi=True)
            where = next((k for k, v in fields if "\x00" in f"{k}{v}"), None)
            if where is None:
                files = request.files.items(multi=True)
                where = next((k for k, f in files if "\x00" in f"{k}{f.filename}"), None)
    if where is not None:
        raise ApiError(400, "invalid_characters", f"{where!r} holds a NUL byte", where)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the API.

    Args:
        config: ``DALSTON_*`` settings that override the environment (tests use this).
    """
    settings = Settings.from_env(overrides=config)
    app = Flask("dalston", static_folder=None)  # no static files: no unguarded /static route
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024
    app.json.sort_keys = False
    app.config.from_prefixed_env("DALSTON_FLASK")
    app.extensions["dalston"] = Services(settings)

    auth.install(app, settings)

    @app.before_request
    def _api_family():
        # Which family took a job (jobs.family): metrics by family, the family's webhooks.
        g.api_family = routing.family_of(request)

    logging_setup.install_flask(app)
    app.register_blueprint(native_views.bp)
    app.add_url_rule(routing.SHARED_PATH, view_func=transcriptions, methods=["POST"])
    app.register_blueprint(health.bp)
    app.register_blueprint(elevenlabs_views.bp)
    app.register_blueprint(elevenlabs_tokens.bp)
    app.register_blueprint(native_tokens.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(openai_views.bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(webhooks_views.bp)
    app.register_blueprint(metrics_view.bp)
    realtime_routes.install(app)
    sock.init_app(app)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()

    app.before_request(refuse_nul_bytes)

    @app.errorhandler(Exception)
    def _error(exc: Exception):
        exc = as_api_error(exc) or exc
        response = make_response(ERROR_HANDLERS[routing.family_of(request)](exc))
        if isinstance(exc, ApiError) and exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    return app
