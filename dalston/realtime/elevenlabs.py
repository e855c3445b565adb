"""The ElevenLabs realtime protocol: ``/v1/speech-to-text/realtime`` (api-compat.md §2).

Handshake query: ``model_id``, ``audio_format`` (``pcm_8000`` … ``pcm_48000``,
``ulaw_8000``; the JS SDK sends it twice: the first wins), ``commit_strategy``
(``manual`` default, or ``vad``), ``vad_silence_threshold_secs`` (silence that commits, VAD
strategy), ``vad_threshold``, ``min_speech_duration_ms``, ``min_silence_duration_ms``,
``language_code``, ``include_timestamps``, ``include_language_detection``, ``keyterms``
(repeated). Unknown parameters are ignored.

Client: ``input_audio_chunk`` (``audio_base_64``, ``commit``, ``sample_rate``,
``previous_text``: only on the first chunk, ``null`` counts as absent); a commit is an
empty chunk with ``commit: true`` or a bare ``{"message_type": "commit"}``. A manual
session commits by itself after 90 s of uncommitted audio. No binary frames.

Server, in this order: ``session_started``; ``partial_transcript``s; per commit
``committed_transcript`` then, with ``include_timestamps`` or
``include_language_detection``, ``committed_transcript_with_timestamps``. Errors use the
documented message types (``input_error``, ``invalid_request``, ``chunk_size_exceeded``,
``resource_exhausted``, ``queue_overflow``, ``session_time_limit_exceeded``,
``transcriber_error``) with an ``error`` string.
"""

from __future__ import annotations

import base64
import binascii
import math

from dalston.realtime.protocol import Protocol, boolean, number, parse_json
from dalston.realtime.session import ProtocolError

FORMATS = {
    **{f"pcm_{r}": ("pcm_s16le", r) for r in (8000, 16000, 22050, 24000, 44100, 48000)},
    "ulaw_8000": ("mulaw", 8000),
}
CODES = {
    "bad_request": "invalid_request",
    "invalid_message": "input_error",
    "invalid_audio": "input_error",
    "frame_too_large": "chunk_size_exceeded",
    "idle_timeout": "session_time_limit_exceeded",
    "lag_exceeded": "queue_overflow",
    "no_capacity": "resource_exhausted",
    "session_limit": "resource_exhausted",
    "worker_lost": "transcriber_error",
    "internal_error": "transcriber_error",
}


class ElevenLabsProtocol(Protocol):
    codes = CODES

    def __init__(self, args, settings):
        super().__init__(settings)
        self.audio_format = (args.getlist("audio_format") or ["pcm_16000"])[0]
        if self.audio_format not in FORMATS:
            raise ProtocolError(
                "invalid_request",
                f"unsupported audio_format {self.audio_format!r}; use one of {sorted(FORMATS)}",
                True,
            )
        self.encoding, self.rate = FORMATS[self.audio_format]
        self.decoder = self._decoder(self.encoding, self.rate)
        self.commit_strategy = args.get("commit_strategy") or "manual"
        if self.commit_strategy not in ("manual", "vad"):
            raise ProtocolError(
                "invalid_request", "commit_strategy must be manual or vad", fatal=True
            )
        self.model_id = args.get("model_id") or "scribe_v2_realtime"
        self.include_timestamps = boolean(args, "include_timestamps", False)
        self.include_language = boolean(args, "include_language_detection", False)
        language = (args.get("language_code") or "").strip().lower() or None
        silence = number(args, "vad_silence_threshold_secs", float, 0.3, 3.0, 1.5)
        keyterms = [t for t in args.getlist("keyterms") if t.strip()]
        if len(keyterms) > 50:
            raise ProtocolError("invalid_request", "at most 50 keyterms", True)
        self.vad = {
            "vad_silence_threshold_secs": silence,
            "vad_threshold": number(args, "vad_threshold", float, 0.1, 0.9, 0.4),
            "min_speech_duration_ms": number(args, "min_speech_duration_ms", int, 50, 2000, 100),
            "min_silence_duration_ms": number(args, "min_silence_duration_ms", int, 50, 2000, 100),
        }
        self.config = {
            "language": language[:2] if language and len(language) == 3 else language,
            "commit_on_vad": self.commit_strategy == "vad",
            "interim_results": True,
            "keyterms": keyterms,
            # The VAD strategy commits after this much silence; a manual session still
            # uses VAD to find speech inside what it commits.
            "min_silence_ms": int(silence * 1000) if self.commit_strategy == "vad" else None,
            "vad_threshold": self.vad["vad_threshold"],
            "min_speech_ms": self.vad["min_speech_duration_ms"],
        }
        self.language_code = language
        self.auto_commit_seconds = (
            settings.realtime_manual_commit_seconds if self.commit_strategy == "manual" else None
        )
        self._chunks = 0

    def begin(self, session_id):
        return self.dump(
            {
                "message_type": "session_started",
                "session_id": session_id,
                "config": {
                    "sample_rate": self.rate,
                    "audio_format": self.audio_format,
                    "language_code": self.language_code,
                    "commit_strategy": self.commit_strategy,
                    **self.vad,
                    "model_id": self.model_id,
                    "include_timestamps": self.include_timestamps,
                    "include_language_detection": self.include_language,
                    "keyterms": self.config["keyterms"],
                },
            }
        )

    def on_binary(self, data):
        raise ProtocolError(
            "input_error", "binary frames are not accepted: send input_audio_chunk messages"
        )

    def on_text(self, text):
        message = parse_json(text, "input_error")
        kind = message.get("message_type")
        if kind == "commit":
            return [("commit",)]
        if kind == "close_stream":
            return [("end",)]
        if kind != "input_audio_chunk":
            raise ProtocolError("input_error", f"unknown message_type {kind!r}")
        commands = []
        encoded = message.get("audio_base_64") or ""
        if not isinstance(encoded, str):
            raise ProtocolError("input_error", "audio_base_64 must be a base64 string")
        try:
            pcm = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("input_error", f"audio_base_64 is not valid base64: {exc}")
        previous = message.get("previous_text")
        if previous is not None:  # null counts as absent (the SDKs send it on every chunk)
            if self._chunks or not isinstance(previous, str):
                # Refused, but the chunk's audio is still taken: dropping speech is worse.
                why = "previous_text must be a string sent with the first chunk only; ignored"
                commands.append(("reply", self.error("input_error", why)))
            else:
                commands.append(("config", {"prompt": previous}))
        rate = message.get("sample_rate")
        if rate is not None and rate != self.rate and self.encoding == "pcm_s16le":
            if not isinstance(rate, int):
                raise ProtocolError("input_error", "sample_rate must be an integer")
            self.decoder = self._decoder_for_chunk(rate)
        if pcm:
            commands.append(("audio", self.decoder(pcm)))
            self._chunks += 1  # after decoding: a refused chunk is not the first chunk
        if message.get("commit") is True:
            commands.append(("commit",))
        return commands

    def _decoder_for_chunk(self, rate):
        try:
            decoder = type(self.decoder)(self.encoding, rate)
        except ValueError as exc:
            raise ProtocolError("input_error", str(exc)) from exc
        self.rate = rate
        return decoder

    def render(self, event):
        kind = event["type"]
        if kind == "partial":
            return self.dump({"message_type": "partial_transcript", "text": event["text"]})
        if kind != "final":
            return []
        if event["reason"] in ("end",) and not event["text"]:
            return []
        out = self.dump({"message_type": "committed_transcript", "text": event["text"]})
        if self.include_timestamps or self.include_language:
            detailed = {
                "message_type": "committed_transcript_with_timestamps",
                "text": event["text"],
                "language_code": event["language"],
                "words": _words(event["words"]) if self.include_timestamps else None,
            }
            out += self.dump(detailed)
        return out

    def warning(self, lag, warn, hard):
        return self.dump(
            {"message_type": "warning", "warning": f"processing is {lag:.1f} s behind the audio"}
        )

    def error(self, code, message, recoverable=False, **extra):
        return self.dump({"message_type": code, "error": message, **extra})

    def end(self, session_id, summary):
        return []


def _words(words: list[dict]) -> list[dict]:
    """Words with ElevenLabs' ``spacing`` tokens between them."""
    out: list[dict] = []
    for i, w in enumerate(words):
        if i:
            prev = words[i - 1]
            out.append(
                {
                    "text": " ",
                    "start": prev["end"],
                    "end": max(prev["end"], w["start"]),
                    "type": "spacing",
                    "logprob": 0.0,
                }
            )
        out.append(
            {
                "text": w["text"],
                "start": w["start"],
                "end": w["end"],
                "type": "word",
                "logprob": round(math.log(max(w["confidence"], 1e-10)), 4),
            }
        )
    return out
