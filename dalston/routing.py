"""Which API family a request belongs to — the one rule the app, its errors and auth share.

Three families answer HTTP requests: ``native`` (``dalston.native``), ``elevenlabs``
(``dalston.elevenlabs``) and ``openai`` (``dalston.openai``). :func:`family_of` decides from
the path alone, except on the one path two families share, where :func:`is_openai_request`
decides. ``dalston.app`` uses it to pick a family's error shape (and so does the
authentication hook's 401) and to route the shared path. It imports no family.

**Which API answers ``POST /v1/audio/transcriptions``** (shared with the native API). A
request is *native* (asynchronous job, ``201``) when it opts in explicitly:

1. a ``Prefer: respond-async`` header, or
2. any native-only field (``audio_url``, ``speaker_detection``, ``num_speakers``,
   ``min_speakers``, ``max_speakers``, ``timestamps_granularity``, ``vocabulary``,
   ``diarize_engine``, ``align_engine``, ``transcribe_engine``, ``beam_size``,
   ``webhook_url``, ``retention``), or
3. no ``model``, or ``model=auto``.

Everything else is an OpenAI request *whatever the model name*: OpenAI clients (the SDK,
Open WebUI, LiveKit) send arbitrary model names and fail silently on a job object
(api-compat.md §4.3–4.4). ``/openai/v1/...`` is an alias that is always OpenAI.
"""

from __future__ import annotations

from typing import Literal

from flask import Request
from werkzeug.exceptions import HTTPException

Family = Literal["native", "elevenlabs", "openai"]

#: The path the native and OpenAI APIs share (its POST; the GET lists native jobs).
SHARED_PATH = "/v1/audio/transcriptions"
#: Paths (and everything below them) that belong to one family; anything else is native.
PREFIXES: tuple[tuple[str, Family], ...] = (
    ("/v1/speech-to-text", "elevenlabs"),
    ("/v1/single-use-token", "elevenlabs"),
    ("/openai", "openai"),
    ("/v1/audio/translations", "openai"),
)
#: Paths (exactly) that belong to one family: the OpenAI realtime WebSocket (the rest of
#: ``/v1/realtime/...``, status and sessions, is native).
EXACT: dict[str, Family] = {"/v1/realtime": "openai"}
NATIVE_FIELDS = frozenset(
    {
        "audio_url",
        "speaker_detection",
        "num_speakers",
        "min_speakers",
        "max_speakers",
        "timestamps_granularity",
        "vocabulary",
        "diarize_engine",
        "align_engine",
        "transcribe_engine",
        "beam_size",
        "webhook_url",
        "retention",
    }
)


def is_openai_request(request: Request) -> bool:
    """The routing rule above, for the shared ``POST /v1/audio/transcriptions``.

    Reads the form, so it raises what reading the form raises (413, a malformed body).
    """
    if "respond-async" in request.headers.get("Prefer", "").lower():
        return False
    if NATIVE_FIELDS & set(request.form.keys()):
        return False
    model = (request.form.get("model") or "").strip()
    return bool(model) and model != "auto"


def family_of(request: Request) -> Family:
    """The family whose error shape (and semantics) a request gets; never raises.

    A shared-path request whose form cannot be read (too large, malformed) is native, as
    the form is what would have made it an OpenAI request.
    """
    path = request.path
    if path in EXACT:
        return EXACT[path]
    for prefix, family in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return family
    if path == SHARED_PATH and request.method == "POST":
        try:
            return "openai" if is_openai_request(request) else "native"
        except HTTPException:
            return "native"
    return "native"
