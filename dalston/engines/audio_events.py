"""Audio events in Whisper's text: "[Music]", "(laughs)", "[APPLAUSE]", "♪".

Whisper writes what it hears but does not say as a bracketed or parenthesised annotation
(or music notes). ElevenLabs calls these ``audio_event`` words. Whether a word is one is
decided from its text alone, by the pure functions here: a word is an event when its whole
text (trailing punctuation aside) is one bracketed or parenthesised span, or only music
notes. Whisper splits "(door closes)" into "(door" and "closes)", so a run of words from an
opening to its closing bracket is joined back into one event word first.

The rule is textual, so speech Whisper writes in brackets ("(ACME)") also counts as an event;
with Whisper's default suppression of these symbols that is rare.
"""

from __future__ import annotations

import math
import re

_SPAN = r"(?:\[[^\[\]]*[^\W\d_][^\[\]]*\]|\([^()]*[^\W\d_][^()]*\))"
_EVENT = re.compile(rf"^{_SPAN}[.,!?;:]*$")
_NOTES = re.compile(r"^[♩♪♫♬\s.,!?;:-]*[♩♪♫♬][♩♪♫♬\s.,!?;:-]*$")
_ANY = re.compile(rf"{_SPAN}|[♩♪♫♬]+")
#: Words looked ahead for the closing bracket of "(door closes)"-style events.
MAX_EVENT_WORDS = 6
_CLOSING = {"[": "]", "(": ")"}


def is_audio_event(text: str) -> bool:
    """Whether ``text`` is wholly one audio event: "[Music]", "(laughs).", "♪ ♪"."""
    text = text.strip()
    return bool(_EVENT.match(text) or _NOTES.match(text))


def strip_events(text: str) -> str:
    """``text`` without its audio events, spaces tidied ("[Music] Hello" → "Hello")."""
    return re.sub(r"\s+", " ", _ANY.sub(" ", text)).strip()


def segment_type(text: str) -> str:
    """``audio_event`` when the segment's text is only events, else ``speech``."""
    return "audio_event" if text.strip() and not strip_events(text) else "speech"


def _event_end(words: list[dict], i: int) -> int | None:
    """The index after the word that closes the bracket opened by words[i], if any."""
    text = words[i]["text"].strip()
    closing = _CLOSING.get(text[:1])
    if closing is None or closing in text:
        return None
    for j in range(i + 1, min(len(words), i + MAX_EVENT_WORDS)):
        if closing in words[j]["text"]:
            return j + 1
    return None


def _join(run: list[dict]) -> dict:
    """One word for a run: its span, and the probability of all of it (product / sum of logs)."""
    joined = dict(run[0], text=" ".join(w["text"].strip() for w in run), end=run[-1]["end"])
    if all(w.get("confidence") is not None for w in run):
        joined["confidence"] = round(math.prod(w["confidence"] for w in run), 4)
    if all(w.get("logprob") is not None for w in run):
        joined["logprob"] = round(sum(w["logprob"] for w in run), 4)
    return joined


def label_words(words: list[dict], keep: bool) -> list[dict]:
    """``words`` with ``type`` set: ``audio_event`` (multi-word events joined into one word)
    or ``word``. With ``keep`` False the events are dropped instead (pure)."""
    out, i = [], 0
    while i < len(words):
        end = _event_end(words, i)
        candidate = _join(words[i:end]) if end else words[i]
        if end and is_audio_event(candidate["text"]):
            i = end
        else:
            candidate, i = words[i], i + 1
        event = is_audio_event(candidate["text"])
        if event and not keep:
            continue
        out.append(dict(candidate, type="audio_event" if event else "word"))
    return out
