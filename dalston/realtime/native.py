"""The native realtime protocol: ``/v1/audio/transcriptions/stream``.

Query parameters: ``language`` (``auto``), ``model``, ``encoding`` (``pcm_s16le`` default,
``pcm_f32le``, ``mulaw``, ``alaw``), ``sample_rate`` (16000; any rate 8000–48000 is
resampled), ``enable_vad`` (true: commit on end of speech; false: commit on ``flush``),
``interim_results`` (true), ``word_timestamps`` (false), ``vocabulary`` (a JSON list or
comma-separated terms, hotwords), ``prompt``, ``vad_threshold``,
``min_silence_duration_ms``, ``prefix_padding_ms``.

Client → server: binary frames of audio; JSON ``{"type": "config", language?,
vad_threshold?, min_silence_duration_ms?, prefix_padding_ms?}``, ``{"type": "flush"}``
(commit now), ``{"type": "clear"}`` (drop what is not committed), ``{"type": "end"}``.

Server → client: ``session.begin``, ``vad.speech_start`` / ``vad.speech_end``
(``timestamp``), ``transcript.partial`` (``text``, ``stable_text``: the prefix that will not
change, ``start``, ``end``), ``transcript.final`` (``text``, ``start``, ``end``,
``confidence``, ``language``, ``words`` with ``word_timestamps``), ``warning``,
``error`` (``code``, ``message``, ``recoverable``), ``session.end`` (totals, the whole
transcript and its segments).
"""

from __future__ import annotations

import json

from dalston.realtime.protocol import Protocol, boolean, number, parse_json
from dalston.realtime.session import ProtocolError

CODES = {
    "bad_request": "invalid_request",
    "invalid_message": "invalid_message",
    "invalid_audio": "invalid_audio",
    "frame_too_large": "frame_too_large",
    "idle_timeout": "session_timeout",
    "lag_exceeded": "lag_exceeded",
    "no_capacity": "no_capacity",
    "session_limit": "session_limit",
    "worker_lost": "worker_lost",
    "internal_error": "internal_error",
}


def _vocabulary(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        terms = json.loads(value)
    except ValueError:
        terms = value.split(",")
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ProtocolError("invalid_request", "vocabulary must be a list of strings", True)
    terms = [t.strip() for t in terms if t.strip()]
    if len(terms) > 100 or any(len(t) > 50 for t in terms):
        raise ProtocolError("invalid_request", "vocabulary: at most 100 terms of 50 chars", True)
    return terms


class NativeProtocol(Protocol):
    codes = CODES

    def __init__(self, args, settings):
        super().__init__(settings)
        self.encoding = args.get("encoding") or "pcm_s16le"
        self.rate = number(args, "sample_rate", int, default=16000)
        self.decoder = self._decoder(self.encoding, self.rate)
        language = (args.get("language") or "auto").strip().lower()
        self.word_timestamps = boolean(args, "word_timestamps", False)
        #: A batch job (diarization, aligned words) on the stored audio when the session ends.
        self.enhance = boolean(args, "enhance", False)
        self.model = args.get("model") or settings.realtime_model
        self.config = {
            "language": None if language == "auto" else language,
            "commit_on_vad": boolean(args, "enable_vad", True),
            "interim_results": boolean(args, "interim_results", True),
            "keyterms": _vocabulary(args.get("vocabulary")),
            "prompt": args.get("prompt") or None,
            "vad_threshold": number(args, "vad_threshold", float, 0.05, 0.95),
            "min_silence_ms": number(args, "min_silence_duration_ms", int, 50, 10000),
            "speech_pad_ms": number(args, "prefix_padding_ms", int, 0, 2000),
        }

    def begin(self, session_id):
        return self.dump(
            {
                "type": "session.begin",
                "session_id": session_id,
                "config": {
                    "sample_rate": self.rate,
                    "encoding": self.encoding,
                    "channels": 1,
                    "language": self.config["language"] or "auto",
                    "model": self.model,
                    "enable_vad": self.config["commit_on_vad"],
                    "interim_results": self.config["interim_results"],
                    "word_timestamps": self.word_timestamps,
                },
            }
        )

    def on_binary(self, data):
        return [("audio", self.decoder(bytes(data)))]

    def on_text(self, text):
        message = parse_json(text, "invalid_message")
        kind = message.get("type")
        if kind == "flush":
            return [("commit",)]
        if kind == "clear":
            return [("clear",)]
        if kind == "end":
            return [("end",)]
        if kind == "config":
            changes = {
                "language": message.get("language"),
                "vad_threshold": message.get("vad_threshold"),
                "min_silence_ms": message.get("min_silence_duration_ms"),
                "speech_pad_ms": message.get("prefix_padding_ms"),
            }
            return [("config", {k: v for k, v in changes.items() if v is not None})]
        raise ProtocolError("invalid_message", f"unknown message type {kind!r}")

    def render(self, event):
        kind = event["type"]
        if kind in ("speech_start", "speech_end"):
            return self.dump({"type": f"vad.{kind}", "timestamp": event["time"]})
        if kind == "partial":
            return self.dump(
                {
                    "type": "transcript.partial",
                    "text": event["text"],
                    "stable_text": event["stable"],
                    "start": event["start"],
                    "end": event["end"],
                }
            )
        if kind == "final":
            message = {
                "type": "transcript.final",
                "text": event["text"],
                "start": event["start"],
                "end": event["end"],
                "confidence": event["confidence"],
                "language": event["language"],
                "reason": event["reason"],
            }
            if self.word_timestamps:
                message["words"] = [
                    {
                        "word": w["text"],
                        "start": w["start"],
                        "end": w["end"],
                        "confidence": w["confidence"],
                    }
                    for w in event["words"]
                ]
            return self.dump(message)
        return []

    def warning(self, lag, warn, hard):
        return self.dump(
            {
                "type": "warning",
                "code": "processing_lag",
                "message": f"processing is {lag:.1f} s behind the audio",
                "lag_seconds": round(lag, 3),
                "warning_threshold_seconds": warn,
                "hard_threshold_seconds": hard,
            }
        )

    def error(self, code, message, recoverable=False, **extra):
        return self.dump(
            {"type": "error", "code": code, "message": message, "recoverable": recoverable, **extra}
        )

    def end(self, session_id, summary):
        finals = summary["finals"]
        return self.dump(
            {
                "type": "session.end",
                "session_id": session_id,
                "total_audio_seconds": summary["audio_seconds"],
                "total_speech_duration": summary["speech_seconds"],
                "language": summary["language"],
                "transcript": " ".join(f["text"] for f in finals),
                "segments": [
                    {"start": f["start"], "end": f["end"], "text": f["text"]} for f in finals
                ],
                "enhance_job_id": summary.get("enhance_job_id"),
            }
        )
