"""OpenAI's realtime transcription: ``/v1/realtime?intent=transcription``.

As the official ``openai`` SDK's realtime client speaks it (``types/realtime/``):
the server opens with ``session.created`` (a ``transcription`` session); the client may
send ``session.update`` (``session.audio.input``: ``format`` ``audio/pcm`` at 24 kHz,
``audio/pcmu``, ``audio/pcma``; ``transcription`` ``{model, language, prompt}``;
``turn_detection`` ``server_vad`` ``{threshold, prefix_padding_ms, silence_duration_ms}`` or
``null`` for manual commits; the legacy ``transcription_session.update`` too), answered by
``session.updated``; then ``input_audio_buffer.append`` (base64 ``audio``),
``input_audio_buffer.commit`` and ``input_audio_buffer.clear``. The server sends
``input_audio_buffer.speech_started`` / ``speech_stopped`` / ``committed`` /
``cleared``, ``conversation.item.input_audio_transcription.delta`` (what is new in the
partial transcript: deltas joined are the completed text) and ``.completed``, and
``error`` events (``{type, code, message}``) that leave the session open. Binary frames
are refused with an error event.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from dalston.realtime.protocol import Protocol, parse_json
from dalston.realtime.session import ProtocolError

FORMATS = {
    "audio/pcm": ("pcm_s16le", 24000),
    "audio/pcmu": ("mulaw", 8000),
    "audio/pcma": ("alaw", 8000),
}
CODES = {
    "bad_request": "invalid_request_error",
    "invalid_message": "invalid_request_error",
    "invalid_audio": "invalid_request_error",
    "frame_too_large": "invalid_request_error",
    "idle_timeout": "session_expired",
    "lag_exceeded": "server_error",
    "no_capacity": "server_error",
    "session_limit": "server_error",
    "worker_lost": "server_error",
    "internal_error": "server_error",
}


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class OpenAIProtocol(Protocol):
    codes = CODES

    def __init__(self, args, settings):
        super().__init__(settings)
        intent = args.get("intent")
        if intent not in (None, "", "transcription"):
            raise ProtocolError(
                "invalid_request_error", "only intent=transcription is served here", True
            )
        self.model = args.get("model") or "gpt-4o-transcribe"
        self.format = "audio/pcm"
        self.decoder = self._decoder(*FORMATS[self.format])
        self.turn_detection: dict | None = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
        }
        self.language: str | None = None
        self.prompt = ""
        self.config = self._worker_config()
        self._item = _id("item")
        self._previous_item: str | None = None
        self._delta_sent = ""  # what the deltas of the current item add up to

    def _worker_config(self) -> dict:
        vad = self.turn_detection
        return {
            "language": self.language,
            "prompt": self.prompt or None,
            "commit_on_vad": vad is not None,
            "interim_results": True,
            "vad_threshold": vad.get("threshold") if vad else None,
            "min_silence_ms": vad.get("silence_duration_ms") if vad else None,
            "speech_pad_ms": vad.get("prefix_padding_ms") if vad else None,
        }

    def _session(self) -> dict:
        rate = FORMATS[self.format][1]
        fmt = {"type": self.format, **({"rate": rate} if self.format == "audio/pcm" else {})}
        return {
            "type": "transcription",
            "id": self._session_id,
            "object": "realtime.transcription_session",
            "audio": {
                "input": {
                    "format": fmt,
                    "transcription": {
                        "model": self.model,
                        "language": self.language,
                        "prompt": self.prompt,
                    },
                    "turn_detection": self.turn_detection,
                    "noise_reduction": None,
                }
            },
            "include": [],
        }

    def _event(self, kind: str, **fields) -> list[str]:
        return self.dump({"type": kind, "event_id": _id("event"), **fields})

    def begin(self, session_id):
        self._session_id = f"sess_{session_id}"
        return self._event("session.created", session=self._session())

    def on_binary(self, data):
        raise ProtocolError(
            "invalid_request_error",
            "binary frames are not accepted: send input_audio_buffer.append",
        )

    def on_text(self, text):
        message = parse_json(text, "invalid_request_error")
        kind = message.get("type")
        if kind == "input_audio_buffer.append":
            audio = message.get("audio")
            if not isinstance(audio, str):
                raise ProtocolError("invalid_request_error", "audio must be a base64 string")
            try:
                raw = base64.b64decode(audio, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ProtocolError("invalid_request_error", f"audio is not valid base64: {exc}")
            return [("audio", self.decoder(raw))]
        if kind == "input_audio_buffer.commit":
            committed = self._event(
                "input_audio_buffer.committed",
                item_id=self._item,
                previous_item_id=self._previous_item,
            )
            return [("commit",), ("reply", committed)]
        if kind == "input_audio_buffer.clear":
            self._delta_sent = ""
            return [("clear",)]
        if kind in ("session.update", "transcription_session.update"):
            return self._update(message.get("session") or {})
        raise ProtocolError("invalid_request_error", f"unsupported event type {kind!r}")

    def _update(self, session: dict) -> list:
        audio_in = (session.get("audio") or {}).get("input") or session
        fmt = audio_in.get("format") or audio_in.get("input_audio_format")
        if isinstance(fmt, dict):
            fmt = fmt.get("type")
        if fmt == "pcm16":
            fmt = "audio/pcm"
        if fmt:
            if fmt not in FORMATS:
                raise ProtocolError("invalid_request_error", f"unsupported audio format {fmt!r}")
            self.format = fmt
            self.decoder = self._decoder(*FORMATS[fmt])
        transcription = audio_in.get("transcription") or audio_in.get("input_audio_transcription")
        if transcription:
            self.model = transcription.get("model") or self.model
            self.language = transcription.get("language") or None
            self.prompt = transcription.get("prompt") or ""
        if "turn_detection" in audio_in:
            vad = audio_in["turn_detection"]
            self.turn_detection = None if vad is None else {**(self.turn_detection or {}), **vad}
        self.config = self._worker_config()
        updated = self._event("session.updated", session=self._session())
        return [("config", self.config), ("reply", updated)]

    def render(self, event):
        kind = event["type"]
        if kind == "speech_start":
            return self._event(
                "input_audio_buffer.speech_started",
                audio_start_ms=int(event["time"] * 1000),
                item_id=self._item,
            )
        if kind == "speech_end":
            return self._event(
                "input_audio_buffer.speech_stopped",
                audio_end_ms=int(event["time"] * 1000),
                item_id=self._item,
            )
        if kind == "partial":
            return self._delta(event["stable"])
        if kind == "final":
            out = []
            if event["reason"] != "manual":  # a manual commit was acknowledged already
                out += self._event(
                    "input_audio_buffer.committed",
                    item_id=self._item,
                    previous_item_id=self._previous_item,
                )
            text = event["text"]
            out += self._delta(text, final=True)
            out += self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=self._item,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": round(event["end"] - event["start"], 3)},
            )
            self._previous_item, self._item, self._delta_sent = self._item, _id("item"), ""
            return out
        return []

    def _delta(self, text: str, final: bool = False) -> list[str]:
        """What ``text`` adds to the deltas sent so far. Deltas cannot be taken back, so
        partials send only their confirmed prefix (which the final starts with); the final
        sends the rest, and the deltas of an item join to its completed transcript."""
        if not text.startswith(self._delta_sent):  # cannot happen: stable text only grows
            return []
        delta = text[len(self._delta_sent) :]
        if not delta:
            return []
        self._delta_sent += delta
        return self._event(
            "conversation.item.input_audio_transcription.delta",
            item_id=self._item,
            content_index=0,
            delta=delta,
        )

    def warning(self, lag, warn, hard):
        return self.error("processing_lag", f"processing is {lag:.1f} s behind the audio")

    def error(self, code, message, recoverable=False, **extra):
        return self.dump(
            {
                "type": "error",
                "event_id": _id("event"),
                "error": {"type": code, "code": code, "message": message, **extra},
            }
        )

    def end(self, session_id, summary):
        return []
