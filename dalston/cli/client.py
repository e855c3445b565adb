"""The native REST API over HTTP, for the command-line client.

Two exceptions say everything a command needs to tell the user: :class:`Unreachable` (no
server answers at the URL) and :class:`ApiError` (the server answered with an error, whose
code and message come from the native error shape ``{"error": {"code", "message"}}``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import requests

JOBS = "/v1/audio/transcriptions"
TERMINAL = ("completed", "failed", "cancelled")


class Unreachable(Exception):
    """No Dalston server answers at the URL."""


class ApiError(Exception):
    """The server refused a request: ``status``, ``code`` and a message a person can act on."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class Client:
    """One Dalston server at ``url``, with ``api_key`` sent as ``Authorization: Bearer``."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def request(
        self, method: str, path: str, ok: Iterable[int] = (), **kwargs
    ) -> requests.Response:
        """Send a request; raise :class:`Unreachable` or :class:`ApiError` on failure.

        ``ok``: error statuses the caller reads itself (``/v1/system/status`` answers 503
        with its report when a service is down).
        """
        kwargs.setdefault("timeout", self.timeout)
        try:
            resp = self.session.request(method, self.url + path, **kwargs)
        except requests.ConnectionError as exc:
            raise Unreachable(f"cannot reach the Dalston server at {self.url}") from exc
        except requests.Timeout as exc:
            raise Unreachable(f"the Dalston server at {self.url} did not answer in time") from exc
        if resp.status_code >= 400 and resp.status_code not in ok:
            raise self._error(resp)
        return resp

    @staticmethod
    def _error(resp: requests.Response) -> ApiError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return ApiError(resp.status_code, err.get("code") or "error", err.get("message") or "")
        text = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else resp.reason
        return ApiError(resp.status_code, f"http_{resp.status_code}", text)

    # -- jobs ----------------------------------------------------------------------------
    def submit(self, source: str, options: dict[str, Any]) -> dict:
        """Submit ``source`` (a file path or an http(s) URL) as a native job."""
        form = {k: str(v) for k, v in options.items() if v is not None}
        headers = {"Prefer": "respond-async"}  # a native job, whatever the model is called
        if is_url(source):
            form["audio_url"] = source
            return self.request("POST", JOBS, data=form, headers=headers).json()
        path = Path(source)
        with open(path, "rb") as f:
            return self.request(
                "POST",
                JOBS,
                data=form,
                files={"file": (path.name, f)},
                headers=headers,
                timeout=max(self.timeout, 600),
            ).json()

    def job(self, job_id: str) -> dict:
        return self.request("GET", f"{JOBS}/{job_id}").json()

    def jobs(self, limit: int = 20, status: str | None = None, cursor: str | None = None) -> dict:
        params = {"limit": limit, "status": status, "cursor": cursor}
        return self.request("GET", JOBS, params={k: v for k, v in params.items() if v}).json()

    def cancel(self, job_id: str) -> dict:
        return self.request("POST", f"{JOBS}/{job_id}/cancel").json()

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"{JOBS}/{job_id}")

    def export(self, job_id: str, fmt: str) -> bytes:
        return self.request("GET", f"{JOBS}/{job_id}/export/{fmt}").content

    # -- operations ------------------------------------------------------------------------
    def models(self) -> dict:
        return self.request("GET", "/v1/models").json()

    def status(self) -> dict:
        return self.request("GET", "/v1/system/status", ok=(503,)).json()

    def health(self) -> bool:
        try:
            return self.request("GET", "/health", timeout=3).ok
        except (Unreachable, ApiError):
            return False


def vocabulary_field(terms: Iterable[str]) -> str | None:
    """``--vocabulary`` values (each may be a comma list) as the API's JSON array."""
    flat = [t.strip() for term in terms for t in term.split(",") if t.strip()]
    return json.dumps(flat) if flat else None
