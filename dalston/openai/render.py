"""Dalston transcript → OpenAI ``/v1/audio/transcriptions`` and ``/translations`` bodies. Pure.

Shapes follow the openai SDK's models (``Transcription``, ``TranscriptionVerbose``,
``TranscriptionDiarized``, ``Translation*``, the stream events), which the compat tests
check with ``_strict_response_validation=True``. Choices:

* ``usage`` is ``{"type": "duration", "seconds"}`` — Whisper-style billing by audio length.
* ``verbose_json`` segments carry faster-whisper's real ``seek``, ``tokens``,
  ``temperature``, ``avg_logprob``, ``compression_ratio`` and ``no_speech_prob`` when the
  engine reported them, else neutral values (0, [], 0.0 …) so strict clients still parse.
* ``diarized_json`` labels speakers ``A``, ``B``, … in order of first appearance, as OpenAI
  does when no known speaker names are given.
* ``logprobs`` (``include[]=logprobs``) are per word: Dalston keeps word probabilities,
  not token ones. Each is the word's stored ``logprob``, read with
  :func:`dalston.contracts.word_logprob` as the ElevenLabs API reads it.
* ``srt`` and ``vtt`` are the native exports (:func:`dalston.exports.render`).
"""

from __future__ import annotations

import json
import string

from dalston import exports, languages
from dalston.contracts import word_logprob

TEXT_FORMATS = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}
FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")


def _usage(transcript: dict) -> dict:
    return {"type": "duration", "seconds": round(float(transcript.get("duration") or 0.0), 3)}


def word_logprobs(transcript: dict) -> list[dict]:
    return [
        {
            "token": w["text"],
            "bytes": list(w["text"].encode()),
            "logprob": word_logprob(w),
        }
        for w in transcript.get("words", [])
    ]


def _segment(i: int, seg: dict) -> dict:
    return {
        "id": i,
        "seek": int(seg.get("seek", round(float(seg["start"]) * 100))),
        "start": round(float(seg["start"]), 3),
        "end": round(float(seg["end"]), 3),
        "text": seg["text"],
        "tokens": list(seg.get("tokens") or []),
        "temperature": float(seg.get("temperature") or 0.0),
        "avg_logprob": float(seg.get("avg_logprob") or 0.0),
        "compression_ratio": float(seg.get("compression_ratio") or 0.0),
        "no_speech_prob": float(seg.get("no_speech_prob") or 0.0),
    }


def speaker_letters(segments: list[dict]) -> dict:
    out: dict = {}
    for seg in segments:
        sid = seg.get("speaker")
        if sid not in out:
            n = len(out)
            letters = string.ascii_uppercase
            out[sid] = letters[n % 26] * (1 + n // 26)
    return out


def diarized_segments(transcript: dict) -> list[dict]:
    segments = transcript.get("segments", [])
    letters = speaker_letters(segments)
    return [
        {
            "id": f"seg_{i}",
            "start": round(float(seg["start"]), 3),
            "end": round(float(seg["end"]), 3),
            "speaker": letters[seg.get("speaker")],
            "text": seg["text"],
            "type": "transcript.text.segment",
        }
        for i, seg in enumerate(segments)
    ]


def render(
    transcript: dict,
    response_format: str,
    *,
    task: str = "transcribe",
    granularities: tuple[str, ...] = (),
    include_logprobs: bool = False,
) -> tuple[str, str]:
    """``(body, mimetype)`` for a finished job."""
    text = transcript.get("text") or ""
    if response_format in ("srt", "vtt"):
        body, _mimetype = exports.render(transcript, response_format)
        return body, TEXT_FORMATS[response_format]
    if response_format == "text":
        return text + "\n", TEXT_FORMATS["text"]
    if response_format == "verbose_json":
        body = {
            "task": task,
            "language": (
                "english"
                if task == "translate"
                else languages.english_name(transcript.get("language"))
            ),
            "duration": round(float(transcript.get("duration") or 0.0), 3),
            "text": text,
        }
        if "segment" in granularities or not granularities:
            body["segments"] = [_segment(i, s) for i, s in enumerate(transcript["segments"])]
        if "word" in granularities and task == "transcribe":
            body["words"] = [
                {
                    "word": w["text"],
                    "start": round(float(w["start"]), 3),
                    "end": round(float(w["end"]), 3),
                }
                for w in transcript.get("words", [])
            ]
        if task == "transcribe":
            body["usage"] = _usage(transcript)
    elif response_format == "diarized_json":
        body = {
            "task": "transcribe",
            "duration": round(float(transcript.get("duration") or 0.0), 3),
            "text": text,
            "segments": diarized_segments(transcript),
            "usage": _usage(transcript),
        }
    else:  # json
        body = {"text": text}
        if task == "transcribe":
            if include_logprobs:
                body["logprobs"] = word_logprobs(transcript)
            body["usage"] = _usage(transcript)
    return json.dumps(body), "application/json"


def sse(event: dict) -> str:
    return f"data: {json.dumps(event)}\n\n"


def stream_events(transcript: dict, response_format: str, include_logprobs: bool = False):
    """The server-sent events of a finished transcript: deltas (and segments), then done."""
    segments = transcript.get("segments", [])
    if response_format == "diarized_json":
        for seg in diarized_segments(transcript):
            yield sse({k: v for k, v in seg.items()})
    words = transcript.get("words", [])
    for i, seg in enumerate(segments):
        delta = seg["text"] if i == 0 else " " + seg["text"]
        event = {"type": "transcript.text.delta", "delta": delta}
        if include_logprobs:
            seg_words = seg.get("words") or [
                w for w in words if seg["start"] <= w["start"] < seg["end"]
            ]
            event["logprobs"] = word_logprobs({"words": seg_words})
        yield sse(event)
    done = {"type": "transcript.text.done", "text": transcript.get("text") or ""}
    if include_logprobs:
        done["logprobs"] = word_logprobs(transcript)
    yield sse(done)
