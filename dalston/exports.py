"""Render a finished :class:`~dalston.contracts.Transcript` as a downloadable document.

``GET /v1/audio/transcriptions/{id}/export/{format}`` offers a transcript as plain text,
JSON, SubRip (SRT) or WebVTT, and the merge stage stores the same documents next to the
transcript. Everything here is a pure function of the stored transcript dict and a few
layout options -- no Flask, no storage, no I/O -- so the same code serves the batch API,
the merge stage, realtime session exports and the CLI, and it is tested without a server.

The writers are shared by every API family: :func:`write_srt`, :func:`write_txt` and
:func:`format_timestamp` also write ElevenLabs' ``srt`` / ``txt`` ``additional_formats``
(``dalston.elevenlabs.formats``), which build their cues and paragraphs by ElevenLabs'
segmentation options instead of this module's line layout.

Subtitle layout follows the usual broadcast conventions: a cue holds at most ``max_lines``
lines of at most ``max_line_length`` characters, words are never broken across lines, and
cue times come from word timestamps when the transcript has them (otherwise a segment's
time is shared among its cues in proportion to their characters). Times are rounded to
milliseconds and cues are clamped so that none ends before it starts or after the next
one starts, which some players otherwise render as stacked or flickering captions.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dalston.contracts import Segment, Transcript
from dalston.schemas.fields import parse_bool

__all__ = [
    "DEFAULT_INCLUDE_SPEAKERS",
    "DEFAULT_MAX_LINES",
    "DEFAULT_MAX_LINE_LENGTH",
    "FORMATS",
    "MIMETYPES",
    "ExportOptionError",
    "export_options",
    "format_timestamp",
    "normalize_format",
    "render",
    "speaker_labels",
    "to_json",
    "to_srt",
    "to_txt",
    "to_vtt",
    "to_ms",
    "write_srt",
    "write_txt",
]

FORMATS: tuple[str, ...] = ("txt", "json", "srt", "vtt")
"""Canonical export format names; each is also the file extension."""

FORMAT_ALIASES: dict[str, str] = {"webvtt": "vtt"}

MIMETYPES: dict[str, str] = {
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
}

DEFAULT_MAX_LINE_LENGTH = 42
DEFAULT_MAX_LINES = 2
DEFAULT_INCLUDE_SPEAKERS = True
MAX_LINE_LENGTH_RANGE = (10, 200)
MAX_LINES_RANGE = (1, 10)

# --------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------


class ExportOptionError(ValueError):
    """An export query option has an unusable value.

    Attributes:
        field: Name of the offending query parameter (e.g. ``"max_lines"``).
        message: Human-readable reason, suitable for a 400 response body.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _int_option(args: Mapping[str, Any], name: str, default: int, bounds: tuple[int, int]) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    lo, hi = bounds
    if isinstance(raw, bool):
        raise ExportOptionError(name, "must be an integer")
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        try:
            value = int(text, 10)
        except ValueError:
            raise ExportOptionError(name, "must be an integer") from None
    if not lo <= value <= hi:
        raise ExportOptionError(name, f"must be between {lo} and {hi}")
    return value


def _bool_option(args: Mapping[str, Any], name: str, default: bool) -> bool:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        return parse_bool(raw)
    except ValueError as exc:
        raise ExportOptionError(name, str(exc)) from None


def export_options(args: Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate the export options from request query arguments.

    Unrelated keys in ``args`` are ignored, so a request's whole query string can be passed.

    Args:
        args: Query arguments (e.g. ``flask.request.args``); values are strings, or already
            typed values when called from Python.

    Returns:
        ``{"max_line_length": int, "max_lines": int, "include_speakers": bool}``, ready to
        pass to :func:`render` as keyword arguments.

    Raises:
        ExportOptionError: A value is not an integer / boolean (see
            :class:`dalston.schemas.fields.Boolean`) or is out of range (``max_line_length``
            10-200, ``max_lines`` 1-10).
    """
    return {
        "max_line_length": _int_option(
            args, "max_line_length", DEFAULT_MAX_LINE_LENGTH, MAX_LINE_LENGTH_RANGE
        ),
        "max_lines": _int_option(args, "max_lines", DEFAULT_MAX_LINES, MAX_LINES_RANGE),
        "include_speakers": _bool_option(args, "include_speakers", DEFAULT_INCLUDE_SPEAKERS),
    }


# --------------------------------------------------------------------------------------
# Speakers
# --------------------------------------------------------------------------------------


def _clean(text: Any) -> str:
    """Collapse all whitespace (including newlines) to single spaces."""
    return " ".join(str(text).split()) if text is not None else ""


def _segment_speaker(segment: Segment) -> str | None:
    """The segment's speaker, else the most frequent speaker among its words."""
    speaker = segment.get("speaker")
    if speaker:
        return speaker
    counts = Counter(w.get("speaker") for w in segment.get("words") or [] if w.get("speaker"))
    return counts.most_common(1)[0][0] if counts else None


def _speaker_order(transcript: Mapping[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for segment in transcript.get("segments") or []:
        if segment.get("speaker"):
            seen.setdefault(segment["speaker"], None)
        for word in segment.get("words") or []:
            if word.get("speaker"):
                seen.setdefault(word["speaker"], None)
    for word in transcript.get("words") or []:
        if word.get("speaker"):
            seen.setdefault(word["speaker"], None)
    for speaker in transcript.get("speakers") or []:
        if speaker.get("id"):
            seen.setdefault(speaker["id"], None)
    return list(seen)


def speaker_labels(transcript: Mapping[str, Any]) -> dict[str, str]:
    """Map every speaker id in the transcript to its display label.

    A non-empty ``label`` in ``transcript["speakers"]`` wins. Any other speaker id (e.g.
    ``"SPEAKER_00"`` or ``"speaker_0"``) is called ``"Speaker N"``, where N is its 1-based
    position in order of first appearance (segments and their words in order, then the
    top-level words, then the ``speakers`` list).

    Args:
        transcript: A transcript dict.

    Returns:
        Speaker id to label.
    """
    given = {
        s["id"]: _clean(s.get("label"))
        for s in transcript.get("speakers") or []
        if s.get("id") and _clean(s.get("label"))
    }
    order = _speaker_order(transcript)
    return {sid: given.get(sid) or f"Speaker {n}" for n, sid in enumerate(order, 1)}


# --------------------------------------------------------------------------------------
# Plain text and JSON
# --------------------------------------------------------------------------------------


def to_txt(transcript: Transcript, include_speakers: bool = True) -> str:
    """Render the transcript as plain text.

    One line per segment. With speakers, consecutive segments of the same (known) speaker
    are joined into one paragraph line, prefixed ``"<label>: "``; segments without a speaker
    get no prefix and stay on their own line.

    Args:
        transcript: A transcript dict.
        include_speakers: Prefix lines with speaker labels and merge same-speaker runs.

    Returns:
        The text, each line ending in ``"\\n"``; ``""`` for an empty transcript. A
        transcript without segments falls back to its ``text``.
    """
    segments = transcript.get("segments") or []
    if not segments:
        text = _clean(transcript.get("text"))
        return write_txt([[text]] if text else [])
    labels = speaker_labels(transcript) if include_speakers else {}
    paragraphs: list[tuple[str | None, list[str]]] = []
    for segment in segments:
        text = _clean(segment.get("text")) or _clean(
            " ".join(_clean(w.get("text")) for w in segment.get("words") or [])
        )
        if not text:
            continue
        speaker = _segment_speaker(segment) if include_speakers else None
        if speaker is not None and paragraphs and paragraphs[-1][0] == speaker:
            paragraphs[-1][1].append(text)
        else:
            paragraphs.append((speaker, [text]))
    lines = []
    for speaker, texts in paragraphs:
        body = " ".join(texts)
        lines.append(f"{labels[speaker]}: {body}" if speaker is not None else body)
    return write_txt([[line] for line in lines])


def write_txt(blocks: Sequence[Sequence[str]], blank_line: bool = False) -> str:
    """The one plain-text writer: each block's lines, then the next block.

    Args:
        blocks: Paragraphs, each a list of lines (a header line, wrapped text lines, ...).
        blank_line: Separate the blocks by an empty line (else by the line break alone).

    Returns:
        The text, ending in ``"\n"``; ``""`` when there are no blocks.
    """
    if not blocks:
        return ""
    return ("\n\n" if blank_line else "\n").join("\n".join(b) for b in blocks) + "\n"


def to_json(transcript: Transcript) -> str:
    """Render the transcript document as pretty-printed UTF-8 JSON.

    Args:
        transcript: A transcript dict (JSON-serialisable by contract).

    Returns:
        Indented JSON with non-ASCII characters kept as-is, ending in a newline.
    """
    return json.dumps(transcript, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------
# Subtitles
# --------------------------------------------------------------------------------------


@dataclass
class _Token:
    text: str
    start: float | None
    end: float | None
    speaker: str | None


@dataclass
class _Cue:
    start_ms: int
    end_ms: int
    lines: list[str]
    speaker: str | None = None
    order: int = field(default=0)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def to_ms(seconds: float) -> int:
    """Seconds to whole milliseconds, rounding half up; negative times become 0."""
    return max(0, math.floor(seconds * 1000 + 0.5))


def format_timestamp(seconds: float, separator: str = ",") -> str:
    """Format a time as ``HH:MM:SS<sep>mmm`` (hours keep growing past 99).

    Args:
        seconds: Time in seconds; rounded to the nearest millisecond, negatives become 0.
        separator: ``","`` for SRT, ``"."`` for WebVTT.

    Returns:
        The formatted timestamp.
    """
    return _format_ms(to_ms(seconds), separator)


def _format_ms(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _subtitle_segments(transcript: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The transcript's segments; or one synthesised from top-level words / text."""
    segments = transcript.get("segments") or []
    if segments:
        return segments
    words = transcript.get("words") or []
    if words:
        return [{"words": words, "text": " ".join(_clean(w.get("text")) for w in words)}]
    duration = _finite(transcript.get("duration"))
    text = _clean(transcript.get("text"))
    if text and duration:
        return [{"start": 0.0, "end": duration, "text": text}]
    return []


def _tokens(segment: Mapping[str, Any]) -> tuple[list[_Token], bool]:
    """Split a segment into tokens; the flag says whether every token carries its times."""
    seg_speaker = _segment_speaker(segment)  # type: ignore[arg-type]
    words = [w for w in segment.get("words") or [] if _clean(w.get("text"))]
    if words:
        tokens = [
            _Token(
                _clean(w.get("text")),
                _finite(w.get("start")),
                _finite(w.get("end")),
                w.get("speaker") or seg_speaker,
            )
            for w in words
        ]
        timed = all(t.start is not None and t.end is not None for t in tokens)
        return tokens, timed
    text = _clean(segment.get("text"))
    return [_Token(part, None, None, seg_speaker) for part in text.split(" ") if part], False


def _layout(
    tokens: Sequence[_Token],
    max_line_length: int,
    max_lines: int,
    split_speakers: bool,
    prefix_len: Mapping[str | None, int],
) -> list[tuple[int, int, list[str]]]:
    """Greedily pack tokens into cues.

    Returns:
        ``(first_token_index, last_token_index, lines)`` per cue. A line takes at least one
        token even when that token alone is longer than the line budget. The first line of a
        cue has ``prefix_len[speaker]`` fewer characters available (SRT's visible prefix).
    """
    cues: list[tuple[int, int, list[str]]] = []
    lines: list[str] = []
    line = ""
    first = 0
    speaker: str | None = tokens[0].speaker if tokens else None

    def budget() -> int:
        return max_line_length - (prefix_len.get(speaker, 0) if not lines else 0)

    for index, token in enumerate(tokens):
        if line and split_speakers and token.speaker != speaker:
            cues.append((first, index - 1, lines + [line]))
            lines, line, first = [], "", index
        if not line:
            speaker = token.speaker if not lines else speaker
            line = token.text
            continue
        if len(line) + 1 + len(token.text) <= budget():
            line = f"{line} {token.text}"
            continue
        lines.append(line)
        line = ""
        if len(lines) >= max_lines:
            cues.append((first, index - 1, lines))
            lines, first = [], index
        speaker = token.speaker if not lines else speaker
        line = token.text
    if line:
        cues.append((first, len(tokens) - 1, lines + [line]))
    return cues


def _build_cues(
    transcript: Mapping[str, Any],
    max_line_length: int,
    max_lines: int,
    include_speakers: bool,
    prefix: str,
) -> list[_Cue]:
    if max_line_length < 1:
        raise ValueError("max_line_length must be at least 1")
    if max_lines < 1:
        raise ValueError("max_lines must be at least 1")
    labels = speaker_labels(transcript) if include_speakers else {}
    prefix_len = {sid: len(prefix.format(label=label)) for sid, label in labels.items()}
    cues: list[_Cue] = []
    for seg_index, segment in enumerate(_subtitle_segments(transcript)):
        tokens, timed = _tokens(segment)
        if not tokens:
            continue
        seg_start = _finite(segment.get("start"))
        seg_end = _finite(segment.get("end"))
        if not timed and (seg_start is None or seg_end is None):
            raise ValueError(
                f"segment {segment.get('id', seg_index)} has no timestamps; "
                "subtitle formats need them"
            )
        offsets: list[int] = []
        total = -1
        for token in tokens:
            offsets.append(total + 1)
            total += 1 + len(token.text)
        for first, last, lines in _layout(
            tokens, max_line_length, max_lines, include_speakers, prefix_len
        ):
            if timed:
                start = tokens[first].start
                end = tokens[last].end
            else:
                span = max(0.0, seg_end - seg_start)
                start = seg_start + span * offsets[first] / total
                end = seg_start + span * (offsets[last] + len(tokens[last].text)) / total
            speaker = tokens[first].speaker if include_speakers else None
            cues.append(_Cue(to_ms(start), to_ms(end), lines, labels.get(speaker), order=len(cues)))
    cues.sort(key=lambda c: (c.start_ms, c.order))
    for cue, following in zip(cues, cues[1:] + [None]):
        if following is not None and cue.end_ms > following.start_ms:
            cue.end_ms = following.start_ms
        cue.end_ms = max(cue.end_ms, cue.start_ms)
    return cues


def to_srt(
    transcript: Transcript,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    max_lines: int = DEFAULT_MAX_LINES,
    include_speakers: bool = True,
) -> str:
    """Render the transcript as SubRip subtitles.

    Args:
        transcript: A transcript dict with segment (and ideally word) timestamps.
        max_line_length: Most characters per line, the ``"[Speaker 1] "`` prefix included
            (a single longer word still gets a line of its own).
        max_lines: Most lines per cue.
        include_speakers: Prefix each cue with ``"[<label>] "`` and start a new cue when the
            speaker changes.

    Returns:
        The SRT document; ``""`` when there is nothing to show.

    Raises:
        ValueError: A segment without word timings has no start/end, or an option is < 1.
    """
    cues = _build_cues(transcript, max_line_length, max_lines, include_speakers, "[{label}] ")
    out = []
    for cue in cues:
        lines = list(cue.lines)
        if cue.speaker:
            lines[0] = f"[{cue.speaker}] {lines[0]}"
        out.append((cue.start_ms, cue.end_ms, lines))
    return write_srt(out)


def write_srt(cues: Iterable[tuple[int, int, Sequence[str]]]) -> str:
    """The one SubRip writer: numbered cues, a blank line between them.

    Args:
        cues: ``(start_ms, end_ms, lines)`` in order, already clamped; each line as shown.

    Returns:
        The SRT document; ``""`` for no cues.
    """
    return "\n".join(
        f"{number}\n{_format_ms(start, ',')} --> {_format_ms(end, ',')}\n" + "\n".join(lines) + "\n"
        for number, (start, end, lines) in enumerate(cues, 1)
    )


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(
    transcript: Transcript,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    max_lines: int = DEFAULT_MAX_LINES,
    include_speakers: bool = True,
) -> str:
    """Render the transcript as WebVTT subtitles.

    Args:
        transcript: A transcript dict with segment (and ideally word) timestamps.
        max_line_length: Most characters per line of cue text (the voice tag is markup and
            does not count); a single longer word still gets a line of its own.
        max_lines: Most lines per cue.
        include_speakers: Open each cue with a ``<v <label>>`` voice tag and start a new cue
            when the speaker changes.

    Returns:
        The WebVTT document; just ``"WEBVTT\\n"`` when there is nothing to show.

    Raises:
        ValueError: A segment without word timings has no start/end, or an option is < 1.
    """
    cues = _build_cues(transcript, max_line_length, max_lines, include_speakers, "")
    blocks = []
    for cue in cues:
        lines = [_vtt_escape(line) for line in cue.lines]
        if cue.speaker:
            lines[0] = f"<v {_vtt_escape(cue.speaker)}>{lines[0]}"
        timing = f"{_format_ms(cue.start_ms, '.')} --> {_format_ms(cue.end_ms, '.')}"
        blocks.append(f"{timing}\n" + "\n".join(lines) + "\n")
    if not blocks:
        return "WEBVTT\n"
    return "WEBVTT\n\n" + "\n".join(blocks)


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------

_OPTION_NAMES = frozenset({"max_line_length", "max_lines", "include_speakers"})


def normalize_format(fmt: str) -> str:
    """Canonical format name for ``fmt`` (case-insensitive; ``webvtt`` means ``vtt``).

    Raises:
        ValueError: ``fmt`` is not a supported export format.
    """
    name = str(fmt).strip().lower()
    name = FORMAT_ALIASES.get(name, name)
    if name not in FORMATS:
        raise ValueError(
            f"unsupported export format {fmt!r}; expected one of: {', '.join(FORMATS)}, webvtt"
        )
    return name


def _pick(options: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: options[name] for name in names if name in options}


def render(transcript: Transcript, fmt: str, **options: Any) -> tuple[str, str]:
    """Render ``transcript`` in export format ``fmt``.

    Options that a format does not use are ignored, so the whole result of
    :func:`export_options` can always be passed.

    Args:
        transcript: A transcript dict.
        fmt: ``txt``, ``json``, ``srt``, ``vtt`` or ``webvtt`` (case-insensitive).
        **options: ``max_line_length``, ``max_lines``, ``include_speakers``.

    Returns:
        ``(body, mimetype)``.

    Raises:
        ValueError: Unknown format, or (subtitles) a segment without timestamps.
        TypeError: An option name other than the three above.
    """
    unknown = set(options) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown export option(s): {', '.join(sorted(unknown))}")
    name = normalize_format(fmt)
    if name == "txt":
        body = to_txt(transcript, **_pick(options, ["include_speakers"]))
    elif name == "json":
        body = to_json(transcript)
    elif name == "srt":
        body = to_srt(transcript, **options)
    else:
        body = to_vtt(transcript, **options)
    return body, MIMETYPES[name]
