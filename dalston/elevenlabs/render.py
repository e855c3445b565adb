"""Dalston transcript → ElevenLabs ``SpeechToTextChunkResponseModel`` (and friends). Pure.

The shapes follow api-compat.md §1.3, checked against the SDKs' own models by the compat
tests. Decisions where ElevenLabs publishes nothing exact:

* ``words`` interleaves word tokens with ``spacing`` tokens (one space between two words),
  as ElevenLabs' documented example does, so ``"".join(w.text for w in words) == text``
  and entity character offsets index both.
* ``logprob`` is the word's stored ``logprob`` (``ln(p)`` of the word probability
  faster-whisper reports), read with :func:`dalston.contracts.word_logprob`, so ``words``
  and ``segmented_json`` always agree; 0.0 for a spacing token.
* ``speaker_id`` is ``speaker_<n>`` for Dalston's ``SPEAKER_<n>`` (numbered by first
  appearance by the diarizer; the channel in multichannel jobs), the same ids the
  ``additional_formats`` use; null when the job had no speaker detection.
* ``timestamps_granularity=none`` still lists the words, with null ``start``/``end``.
* ``characters`` (granularity ``character``) carry the per-character times the aligner
  derived from its phone alignment.
* ``language_code`` is ISO 639-3 (``eng``), as ElevenLabs reports it.
"""

from __future__ import annotations

from dalston import languages
from dalston.contracts import word_logprob
from dalston.elevenlabs import entities
from dalston.elevenlabs import formats as el_formats
from dalston.elevenlabs.formats import el_speaker_id


def _time(value, timed: bool):
    return round(float(value), 3) if timed and value is not None else None


def word_tokens(
    words: list[dict],
    *,
    granularity: str,
    channel_index: bool = False,
) -> list[dict]:
    """ElevenLabs word list: word / audio_event tokens with ``spacing`` tokens between them."""
    timed = granularity != "none"
    tokens: list[dict] = []
    prev = None
    for w in words:
        if prev is not None:
            start = prev["end"] if timed else None
            end = max(prev["end"], w["start"]) if timed else None
            spacing = {
                "text": " ",
                "start": _time(start, timed),
                "end": _time(end, timed),
                "type": "spacing",
                "speaker_id": tokens[-1]["speaker_id"],
                "logprob": 0.0,
            }
            if granularity == "character":
                spacing["characters"] = [
                    {"text": " ", "start": spacing["start"], "end": spacing["end"]}
                ]
            if channel_index:
                spacing["channel_index"] = tokens[-1].get("channel_index")
            tokens.append(spacing)
        token = {
            "text": w["text"],
            "start": _time(w.get("start"), timed),
            "end": _time(w.get("end"), timed),
            "type": "audio_event" if w.get("type") == "audio_event" else "word",
            "speaker_id": el_speaker_id(w.get("speaker")),
            "logprob": word_logprob(w),
        }
        if granularity == "character":
            token["characters"] = _characters(w)
        if channel_index:
            token["channel_index"] = w.get("channel")
        tokens.append(token)
        prev = w
    return tokens


def _characters(word: dict) -> list[dict]:
    chars = word.get("characters")
    if chars:
        return [
            {"text": c["text"], "start": _time(c["start"], True), "end": _time(c["end"], True)}
            for c in chars
        ]
    # No aligner output for this word: spread it evenly over the word's time.
    text, start, end = word["text"], float(word["start"]), float(word["end"])
    step = (end - start) / max(len(text), 1)
    return [
        {"text": ch, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3)}
        for i, ch in enumerate(text)
    ]


def untimed_words(transcript: dict) -> list[dict]:
    """Words of a transcript made without word timestamps (granularity ``none``)."""
    out = []
    for seg in transcript.get("segments", []):
        for text in seg.get("text", "").split():
            out.append(
                {
                    "text": text,
                    "start": None,
                    "end": None,
                    "speaker": seg.get("speaker"),
                    "channel": seg.get("channel"),
                }
            )
    return out


def chunk_model(
    transcript: dict,
    *,
    transcription_id: str | None,
    granularity: str,
    words: list[dict] | None = None,
    channel_index: int | None = None,
    words_channel_index: bool = False,
) -> dict:
    """One ``SpeechToTextChunkResponseModel``.

    Args:
        words: the Dalston words to show (default: all of the transcript's).
        channel_index: the model's own ``channel_index`` (``separate`` output).
        words_channel_index: put ``channel_index`` on every word (``combined`` output).
    """
    if words is None:
        words = transcript_words(transcript)
    tokens = word_tokens(words, granularity=granularity, channel_index=words_channel_index)
    return {
        "language_code": languages.to_iso3(transcript.get("language")) or "und",
        "language_probability": round(float(transcript.get("language_probability") or 0.0), 4),
        "text": "".join(t["text"] for t in tokens),
        "words": tokens,
        "channel_index": channel_index,
        "additional_formats": None,
        "transcription_id": transcription_id,
        "audio_duration_secs": round(float(transcript.get("duration") or 0.0), 3),
    }


def transcript_words(transcript: dict) -> list[dict]:
    """The words to list: the transcript's, or its segments' text split when untimed."""
    return transcript.get("words") or untimed_words(transcript)


def channels_of(transcript: dict) -> list[int]:
    found = {w.get("channel") for w in transcript_words(transcript)}
    found |= {s.get("channel") for s in transcript.get("segments", [])}
    return sorted(c for c in found if c is not None)


def multichannel_model(
    transcript: dict, *, transcription_id: str, granularity: str, channels: list[int]
) -> dict:
    """``MultichannelSpeechToTextResponseModel``: one chunk model per channel."""
    all_words = transcript_words(transcript)
    return {
        "transcripts": [
            chunk_model(
                transcript,
                transcription_id=transcription_id,
                granularity=granularity,
                words=[w for w in all_words if w.get("channel") == ch],
                channel_index=ch,
            )
            for ch in channels
        ],
        "transcription_id": transcription_id,
        "audio_duration_secs": round(float(transcript.get("duration") or 0.0), 3),
    }


def webhook_ack(request_id: str, transcription_id: str, message: str) -> dict:
    """``SpeechToTextWebhookResponseModel``."""
    return {"message": message, "request_id": request_id, "transcription_id": transcription_id}


def redact_tokens(tokens: list[dict], found: list[dict], mode: str) -> list[dict]:
    """Replace every token an entity touches: the first by the entity's marker, the rest
    dropped. Tokens, not just ``text``, are redacted, so no word list leaks what the text
    hides. Markers (``{REDACTED}``, ``{EMAIL_ADDRESS}``, ``{EMAIL_ADDRESS_0}``) come from
    :func:`dalston.elevenlabs.entities.markers`.
    """
    spans, pos = [], 0
    for token in tokens:
        spans.append((pos, pos + len(token["text"])))
        pos += len(token["text"])
    found = sorted(found, key=lambda e: e["start_char"])
    replace: dict[int, str] = {}
    last_of: dict[int, int] = {}
    drop: set[int] = set()
    for entity, marker in zip(found, entities.markers(found, mode)):
        hit = [
            i
            for i, (a, b) in enumerate(spans)
            if a < entity["end_char"] and b > entity["start_char"] and i not in drop
        ]
        if not hit or hit[0] in replace:
            continue
        replace[hit[0]] = marker
        last_of[hit[0]] = hit[-1]
        drop.update(hit[1:])
    out = []
    for i, token in enumerate(tokens):
        if i in drop:
            continue
        if i in replace:
            token = dict(token, text=replace[i], type="word", end=tokens[last_of[i]]["end"])
            if "characters" in token:
                token["characters"] = [
                    {"text": ch, "start": token["start"], "end": token["end"]}
                    for ch in token["text"]
                ]
        out.append(token)
    return out


def apply_entities(chunk: dict, options: dict) -> None:
    """Fill ``entities`` (detection) or redact the text and words (redaction), in place."""
    detection = options.get("entity_detection")
    if not detection:
        return
    found = entities.detect(chunk["text"], set(detection))
    redaction = set(options.get("entity_redaction") or ())
    if redaction:
        hidden = [e for e in found if e["entity_type"] in redaction]
        chunk["words"] = redact_tokens(
            chunk["words"], hidden, options.get("entity_redaction_mode") or "enumerated_entity_type"
        )
        chunk["text"] = "".join(t["text"] for t in chunk["words"])
        return
    chunk["entities"] = found


def render(transcript: dict, options: dict, transcription_id: str) -> dict:
    """The whole ElevenLabs answer for a finished job, from its stored options."""
    granularity = options.get("granularity", "word")
    style = options.get("multichannel")
    if style == "separate":
        body = multichannel_model(
            transcript,
            transcription_id=transcription_id,
            granularity=granularity,
            channels=channels_of(transcript),
        )
        chunks = body["transcripts"]
    else:
        body = chunk_model(
            transcript,
            transcription_id=transcription_id,
            granularity=granularity,
            words_channel_index=style == "combined",
        )
        chunks = [body]
    formats = [
        el_formats.render_additional_format(transcript, el_formats.FormatRequest(**f))
        for f in options.get("additional_formats") or []
    ]
    for chunk in chunks:
        apply_entities(chunk, options)
        if formats:
            chunk["additional_formats"] = formats
        if options.get("transcript_edit"):
            chunk["edited_transcript"] = {
                "kind": "error",
                "error_type": "edit_failed",
                "message": "transcript editing needs a language model, which this server "
                "does not run",
            }
    return body
