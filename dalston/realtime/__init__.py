"""The realtime API: WebSocket transcription in three protocols, relayed to realtime workers.

``sock`` is the flask-sock extension, unbound until ``dalston.app.create_app`` calls
``routes.install``. ``routes.py`` holds the three thin WebSocket handlers (native,
ElevenLabs, OpenAI), ``session.py`` the transport-agnostic session state machine (any
object with ``send``/``receive``/``close``), ``native.py``/``elevenlabs.py``/``openai.py``
each protocol's wire format, ``audio.py`` the client audio formats and resampling, and
``status.py`` ``GET /v1/realtime/status``. Frames travel through ``dalston.relay``; the
models run in the realtime worker (``dalston.streaming``), never in the API.
"""

from flask_sock import Sock

sock = Sock()
