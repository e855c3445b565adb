"""The web console: a static page at ``/console/`` that calls the native API from the browser.

Plain HTML, CSS and JavaScript in ``static/`` — no build step, no CDN, nothing fetched from
anywhere but this server — so it works offline and ``make run`` serves it as it is. The
page and its assets hold no data: with ``DALSTON_API_KEY`` set they are public
(``dalston.auth.PUBLIC_PATHS`` and ``PUBLIC_PREFIXES``), the page asks for the key, keeps
it in ``sessionStorage`` and sends it as ``Authorization: Bearer`` on every API call it
makes, which the one authentication hook checks like any other client's.

Pages (hash routes, so the server serves one document): jobs (list with live progress, new
job), a job (audio synced to the transcript, speakers, stage timeline, exports, cancel,
delete), queues (``/v1/system/status``, a link to Flower). The live (realtime) page and the
keys and webhooks pages are not here: those APIs do not exist yet.
"""

from __future__ import annotations

import html
from pathlib import Path

from flask import Blueprint, Response, current_app, redirect, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

bp = Blueprint("console", __name__)


@bp.get("/console")
def console_root():
    return redirect("/console/", code=308)


@bp.get("/console/")
def index():
    """The page, with the one setting it needs (where Flower is) filled in; no data."""
    settings = current_app.extensions["dalston"].settings
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{FLOWER_URL}}", html.escape(settings.flower_url or "", quote=True))
    resp = Response(page, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"
    # Only this server: a stray reference to a CDN fails in development, not in the field.
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
    return resp


@bp.get("/console/assets/<path:name>")
def asset(name: str):
    """The console's script, styles and icon (``send_from_directory`` refuses paths outside)."""
    return send_from_directory(STATIC, name, max_age=0)
