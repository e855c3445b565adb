"""What the three realtime protocols share: parameter parsing and the protocol interface.

A protocol is built from the handshake's query parameters (raising ``ProtocolError`` with
``fatal=True`` for parameters it refuses) and then translates: client messages into
commands for the session (``("audio", pcm16)``, ``("commit",)``, ``("clear",)``,
``("config", {...})``, ``("end",)``), and worker events into its own messages.
"""

from __future__ import annotations

import json

from dalston.realtime.audio import AudioDecoder, AudioFormatError
from dalston.realtime.session import ProtocolError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def boolean(args, name: str, default: bool) -> bool:
    value = args.get(name)
    if value is None or value == "":
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ProtocolError("invalid_request", f"{name} must be true or false, not {value!r}", True)


def number(args, name: str, kind=float, low=None, high=None, default=None):
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        parsed = kind(value)
    except ValueError:
        raise ProtocolError("invalid_request", f"{name} must be a number, not {value!r}", True)
    if (low is not None and parsed < low) or (high is not None and parsed > high):
        raise ProtocolError("invalid_request", f"{name} must be within {low}–{high}", True)
    return parsed


def parse_json(text: str, code: str) -> dict:
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(code, f"not valid JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError(code, "a message must be a JSON object")
    return message


class Protocol:
    """Base of the three protocols (see the module docstring)."""

    #: This protocol's error code for each condition the session detects.
    codes: dict[str, str] = {}
    #: A manual session commits by itself after this many seconds of audio (ElevenLabs).
    auto_commit_seconds: float | None = None

    def __init__(self, settings):
        self.settings = settings
        self.config: dict = {}
        self.decoder: AudioDecoder | None = None

    def _decoder(self, encoding: str, rate: int) -> AudioDecoder:
        try:
            return AudioDecoder(encoding, rate)
        except AudioFormatError as exc:
            raise ProtocolError(self.codes["bad_request"], str(exc), fatal=True) from exc

    @classmethod
    def refusal(cls, exc: ProtocolError) -> list[str]:
        """The error message for a handshake the protocol refuses (no instance exists)."""
        return cls.__new__(cls).error(exc.code, exc.message)

    def worker_config(self) -> dict:
        return self.config

    def dump(self, message: dict) -> list[str]:
        return [json.dumps(message)]
