"""ElevenLabs ``additional_formats``: parse the form field, render each requested document.

``POST /v1/speech-to-text`` takes ``additional_formats``, JSON text of an array (at most 10)
of export options, and answers with one item per option in the response's
``additional_formats``. Everything here is a pure function of the stored Dalston transcript
and those options -- no Flask, no storage -- so the batch endpoint, a transcript ``GET`` and
tests share it. (The PDF renderer reads a TrueType font file from disk; see below.)

Where the details come from (nothing here is copied from those sources):

* Option names and per-format defaults: the ElevenLabs OpenAPI schemas ``SrtExportOptions``,
  ``TxtExportOptions``, ``SegmentedJsonExportOptions``, ``HtmlExportOptions``,
  ``DocxExportOptions`` and ``PdfExportOptions`` (as generated into tryAGI/ElevenLabs; the
  elevenlabs-python ``ExportOptions`` union has the same fields, all optional). srt:
  ``include_speakers`` **false**, ``include_timestamps`` true, 42 characters per line, a new
  segment after 0.8 s of silence, at most 4 s and 84 characters per segment. txt:
  ``include_speakers`` true, ``include_timestamps`` true, 100 characters per line and no
  segmentation defaults. segmented_json, html, docx, pdf: both flags true, no segmentation
  defaults. Only srt and txt have ``max_characters_per_line``.
* Item shape: ``AdditionalFormatResponseModel`` (``requested_format``, ``file_extension``,
  ``content_type``, ``is_base64_encoded``, ``content``; all required). The content types and
  extensions are not in the spec; they follow a captured ElevenLabs webhook payload:
  ``text/srt``, ``text/plain``, ``application/json`` (extension ``json``), ``text/html``, and
  base64 docx / pdf with their standard types.
* ``segmented_json``: no public schema. Clients written against the real service read
  ``content["segments"][i]["text"]`` and ``["words"]``, words shaped like the main response's
  (``text``, ``start``, ``end``, ``type``, ``speaker_id``, ``logprob``), so that is the shape
  produced: ``{"segments": [{"text", "words"}]}``, with ``spacing`` tokens between words as
  in the main ``words`` stream, and each word's ``logprob`` read the way the main ``words``
  read it (:func:`dalston.contracts.word_logprob`), so the two never disagree.
* txt layout: clients of the real service parse ``[speaker_0]`` on its own line above the
  segment's text, blocks separated by a blank line; the same label form is used everywhere.

Segmentation (all formats): a new segment starts when the speaker changes, after a silence
longer than ``segment_on_silence_longer_than_s``, or when adding the next word would make it
longer than ``max_segment_duration_s`` seconds or ``max_segment_chars`` characters. A format
with none of the three options set keeps Dalston's own segment boundaries (plus speaker
changes) rather than running a whole recording together. Word times are used; a transcript
without words shares each segment's time among its words in proportion to their characters.
Speaker ids are given in ElevenLabs form: ``SPEAKER_00`` becomes ``speaker_0``; other ids
(e.g. ``agent``) pass through.

srt and txt are written by the native exports' writers (:func:`dalston.exports.write_srt`,
:func:`dalston.exports.write_txt`, :func:`dalston.exports.format_timestamp`); only the cues
and paragraphs are built here, by the options above.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dalston.contracts import word_logprob
from dalston.exports import format_timestamp, to_ms, write_srt, write_txt

__all__ = [
    "BINARY_FORMATS",
    "CONTENT_TYPES",
    "DEFAULTS",
    "FILE_EXTENSIONS",
    "FORMATS",
    "MAX_FORMATS",
    "FormatError",
    "FormatRequest",
    "el_speaker_id",
    "parse_additional_formats",
    "render_additional_format",
    "render_additional_formats",
    "segment_transcript",
]

FORMATS: tuple[str, ...] = ("srt", "txt", "segmented_json", "html", "docx", "pdf")
MAX_FORMATS = 10
BINARY_FORMATS = frozenset({"docx", "pdf"})
FILE_EXTENSIONS = {f: ("json" if f == "segmented_json" else f) for f in FORMATS}
CONTENT_TYPES = {
    "srt": "text/srt",
    "txt": "text/plain",
    "segmented_json": "application/json",
    "html": "text/html",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
_FLAGS = {"include_speakers": True, "include_timestamps": True}
DEFAULTS: dict[str, dict[str, Any]] = {
    "srt": {
        "include_speakers": False,
        "include_timestamps": True,
        "max_characters_per_line": 42,
        "segment_on_silence_longer_than_s": 0.8,
        "max_segment_duration_s": 4.0,
        "max_segment_chars": 84,
    },
    "txt": {**_FLAGS, "max_characters_per_line": 100},
    "segmented_json": dict(_FLAGS),
    "html": dict(_FLAGS),
    "docx": dict(_FLAGS),
    "pdf": dict(_FLAGS),
}
# option -> (kind, smallest allowed value)
_OPTIONS: dict[str, tuple[str, float]] = {
    "include_speakers": ("bool", 0),
    "include_timestamps": ("bool", 0),
    "segment_on_silence_longer_than_s": ("float", 0.0),
    "max_segment_duration_s": ("float", 1e-3),
    "max_segment_chars": ("int", 1),
    "max_characters_per_line": ("int", 1),
}
_LINE_FORMATS = frozenset({"srt", "txt"})
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPEAKER_ID = re.compile(r"^speaker[_ ]?0*(\d+)$", re.IGNORECASE)
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
)


class FormatError(ValueError):
    """``additional_formats`` cannot be used; the caller answers 400/422 naming ``param``."""

    def __init__(self, message: str, param: str = "additional_formats") -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class FormatRequest:
    """One requested export, with the spec's defaults filled in (``None``: rule off)."""

    format: str
    include_speakers: bool
    include_timestamps: bool
    segment_on_silence_longer_than_s: float | None = None
    max_segment_duration_s: float | None = None
    max_segment_chars: int | None = None
    max_characters_per_line: int | None = None


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


def _option(raw: Any, name: str, where: str) -> Any:
    kind, low = _OPTIONS[name]
    if kind == "bool":
        if not isinstance(raw, bool):
            raise FormatError(f"{where}.{name} must be a boolean")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise FormatError(f"{where}.{name} must be a number")
    if kind == "int":
        if float(raw) != int(raw):
            raise FormatError(f"{where}.{name} must be an integer")
        raw = int(raw)
    if raw < low:
        raise FormatError(f"{where}.{name} must be at least {low:g}")
    return float(raw) if kind == "float" else raw


def _parse_item(item: Any, index: int) -> FormatRequest:
    where = f"additional_formats[{index}]"
    if not isinstance(item, dict):
        raise FormatError(f"{where} must be an object")
    fmt = item.get("format")
    fmt = fmt.strip().lower() if isinstance(fmt, str) else fmt
    if fmt not in FORMATS:
        raise FormatError(f"{where}.format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    values = dict(DEFAULTS[fmt])
    for name in _OPTIONS:
        if name == "max_characters_per_line" and fmt not in _LINE_FORMATS:
            continue  # not part of that format's schema: ignored, like other unknown keys
        if item.get(name) is not None:
            values[name] = _option(item[name], name, where)
    return FormatRequest(format=fmt, **values)


def parse_additional_formats(value: Any) -> list[FormatRequest]:
    """Read the ``additional_formats`` form value.

    Args:
        value: The form field: JSON text (``str`` or ``bytes``) of an array of option
            objects, or an already decoded list. ``None``, ``""`` and ``null`` mean absent.
            A JSON string holding the array (a client that JSON-encoded twice) is accepted.

    Returns:
        One :class:`FormatRequest` per item, in order, defaults applied. Unknown keys in an
        item are ignored, as the vendor's schema allows extra properties.

    Raises:
        FormatError: Malformed JSON, not an array, more than 10 items, an item that is not
            an object, an unknown ``format``, or an option of the wrong type or below its
            minimum.
    """
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("additional_formats is not UTF-8 text") from None
    items = value
    if isinstance(items, str):
        if not items.strip():
            return []
        try:
            items = json.loads(items)
        except json.JSONDecodeError as exc:
            raise FormatError(f"additional_formats is not valid JSON: {exc.msg}") from None
    if isinstance(items, str):  # a JSON string holding the JSON array
        try:
            items = json.loads(items)
        except json.JSONDecodeError:
            pass
    if items is None:
        return []
    if not isinstance(items, list):
        raise FormatError("additional_formats must be a JSON array of export options")
    if len(items) > MAX_FORMATS:
        raise FormatError(f"additional_formats accepts at most {MAX_FORMATS} items")
    return [_parse_item(item, i) for i, item in enumerate(items)]


# --------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------


@dataclass
class _Word:
    text: str
    start: float | None
    end: float | None
    speaker: str | None
    logprob: float
    block: int  # index of the Dalston segment the word came from


@dataclass
class _Segment:
    words: list[_Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def start(self) -> float | None:
        return next((w.start for w in self.words if w.start is not None), None)

    @property
    def end(self) -> float | None:
        return next((w.end for w in reversed(self.words) if w.end is not None), None)

    @property
    def speaker(self) -> str | None:
        return self.words[0].speaker


def _clean(text: Any) -> str:
    return " ".join(_XML_INVALID.sub("", str(text)).split()) if text is not None else ""


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def el_speaker_id(speaker: str | None) -> str | None:
    """ElevenLabs' form of a Dalston speaker id: ``SPEAKER_03`` -> ``speaker_3``."""
    if not speaker:
        return None
    match = _SPEAKER_ID.match(str(speaker))
    return f"speaker_{int(match.group(1))}" if match else str(speaker)


def _source_segments(transcript: dict) -> list[dict]:
    segments = transcript.get("segments") or []
    if segments:
        return segments
    if transcript.get("words"):
        return [{"words": transcript["words"]}]
    text = _clean(transcript.get("text"))
    return [{"text": text, "start": 0.0, "end": _num(transcript.get("duration"))}] if text else []


def _words(transcript: dict) -> list[_Word]:
    out: list[_Word] = []
    for block, seg in enumerate(_source_segments(transcript)):
        speaker = seg.get("speaker")
        words = [w for w in seg.get("words") or [] if _clean(w.get("text"))]
        for w in words:
            out.append(
                _Word(
                    _clean(w["text"]),
                    _num(w.get("start")),
                    _num(w.get("end")),
                    w.get("speaker") or speaker,
                    word_logprob(w),
                    block,
                )
            )
        if words:
            continue
        parts = _clean(seg.get("text")).split()
        start, end = _num(seg.get("start")), _num(seg.get("end"))
        total = sum(len(p) + 1 for p in parts) - 1
        offset = 0
        for part in parts:  # share the segment's time by characters
            a = b = None
            if start is not None and end is not None and total > 0:
                a = start + (end - start) * offset / total
                b = start + (end - start) * (offset + len(part)) / total
            out.append(_Word(part, a, b, speaker, 0.0, block))
            offset += len(part) + 1
    return out


def _cut(current: _Segment, word: _Word, request: FormatRequest) -> bool:
    last = current.words[-1]
    if word.speaker != last.speaker:
        return True
    silence = request.segment_on_silence_longer_than_s
    duration = request.max_segment_duration_s
    chars = request.max_segment_chars
    if silence is None and duration is None and chars is None:
        return word.block != last.block
    if silence is not None and word.start is not None and last.end is not None:
        if word.start - last.end > silence:
            return True
    if duration is not None and word.end is not None and current.start is not None:
        if word.end - current.start > duration:
            return True
    return chars is not None and len(current.text) + 1 + len(word.text) > chars


def _segments(transcript: dict, request: FormatRequest) -> list[_Segment]:
    segments: list[_Segment] = []
    for word in _words(transcript):
        if not segments or _cut(segments[-1], word, request):
            segments.append(_Segment())
        segments[-1].words.append(word)
    return segments


def segment_transcript(transcript: dict, request: FormatRequest) -> list[dict]:
    """The segments every format is built from (exposed for callers and tests).

    Returns:
        ``[{"text", "start", "end", "speaker", "words": [{"text", "start", "end"}]}]`` with
        Dalston's speaker ids; times may be ``None`` where the transcript has none.
    """
    return [
        {
            "text": seg.text,
            "start": seg.start,
            "end": seg.end,
            "speaker": seg.speaker,
            "words": [{"text": w.text, "start": w.start, "end": w.end} for w in seg.words],
        }
        for seg in _segments(transcript, request)
    ]


# --------------------------------------------------------------------------------------
# Renderers
# --------------------------------------------------------------------------------------


def _label(seg: _Segment, request: FormatRequest) -> str | None:
    return el_speaker_id(seg.speaker) if request.include_speakers else None


def _span(seg: _Segment, request: FormatRequest) -> str | None:
    if not request.include_timestamps or seg.start is None or seg.end is None:
        return None
    return f"{format_timestamp(seg.start, '.')} - {format_timestamp(seg.end, '.')}"


def _header(seg: _Segment, request: FormatRequest) -> str:
    label, span = _label(seg, request), _span(seg, request)
    return " ".join(p for p in (label and f"[{label}]", span and f"[{span}]") if p)


def _wrap(text: str, width: int | None) -> list[str]:
    if not width:
        return [text]
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [text]


def _txt(segments: list[_Segment], request: FormatRequest) -> str:
    """One paragraph per segment, under its header line, blank lines between them."""
    blocks = []
    for seg in segments:
        header = _header(seg, request)
        blocks.append(
            ([header] if header else []) + _wrap(seg.text, request.max_characters_per_line)
        )
    return write_txt(blocks, blank_line=True)


def _srt(segments: list[_Segment], request: FormatRequest) -> str:
    """SubRip cues, one per segment; always timed (``include_timestamps`` has no meaning)."""
    cues = []
    for seg in segments:
        start = seg.start if seg.start is not None else (cues[-1][1] if cues else 0.0)
        end = max(seg.end if seg.end is not None else start, start)
        label = _label(seg, request)
        text = f"[{label}] {seg.text}" if label else seg.text
        cues.append([start, end, _wrap(text, request.max_characters_per_line)])
    for cue, following in zip(cues, cues[1:]):
        cue[1] = max(cue[0], min(cue[1], following[0]))  # players stack overlapping cues
    return write_srt((to_ms(a), to_ms(b), lines) for a, b, lines in cues)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _segmented_json(segments: list[_Segment], request: FormatRequest) -> str:
    out = []
    for seg in segments:
        speaker = _label(seg, request)
        timed = request.include_timestamps
        words: list[dict] = []
        for i, w in enumerate(seg.words):
            if i:
                prev = seg.words[i - 1]
                words.append(
                    {
                        "text": " ",
                        "start": _round(prev.end) if timed else None,
                        "end": _round(w.start) if timed else None,
                        "type": "spacing",
                        "speaker_id": speaker,
                        "logprob": 0.0,
                    }
                )
            words.append(
                {
                    "text": w.text,
                    "start": _round(w.start) if timed else None,
                    "end": _round(w.end) if timed else None,
                    "type": "word",
                    "speaker_id": speaker,
                    "logprob": w.logprob,
                }
            )
        out.append({"text": seg.text, "words": words})
    return json.dumps({"segments": out}, ensure_ascii=False)


def _html(transcript: dict, segments: list[_Segment], request: FormatRequest) -> str:
    lang = re.sub(r"[^A-Za-z-]", "", str(transcript.get("language") or "")) or "und"
    body = []
    for seg in segments:
        label, span = _label(seg, request), _span(seg, request)
        parts = [f'<span class="speaker">{html.escape(label)}</span>'] if label else []
        parts += [f'<span class="timestamp">[{span}]</span>'] if span else []
        parts.append(f'<span class="text">{html.escape(seg.text)}</span>')
        body.append(f'<p class="segment">{" ".join(parts)}</p>')
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{lang}">',
            '<head><meta charset="utf-8" /><title>Transcript</title></head>',
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _docx(segments: list[_Segment], request: FormatRequest) -> bytes:
    from docx import Document  # heavy (lxml); loaded only when a docx is asked for

    document = Document()
    for seg in segments:
        paragraph = document.add_paragraph()
        header = _header(seg, request)
        if header:
            run = paragraph.add_run(header)
            run.bold = True
            run.add_break()
        paragraph.add_run(seg.text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _unicode_font() -> tuple[Path, Path | None] | None:
    """DejaVu Sans (regular, bold) from the system or matplotlib's copy, if present.

    fpdf2 ships only the latin-1 core fonts, so any other text needs an embedded TTF.
    """
    dirs = [Path(d) for d in _FONT_DIRS]
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations)), "mpl-data/fonts/ttf"))
    for directory in dirs:
        regular = directory / "DejaVuSans.ttf"
        if regular.is_file():
            bold = directory / "DejaVuSans-Bold.ttf"
            return regular, bold if bold.is_file() else None
    return None


def _pdf(segments: list[_Segment], request: FormatRequest) -> bytes:
    """A4 PDF. With DejaVu Sans available all its glyphs render; without it the text is
    written in Helvetica with characters outside latin-1 replaced by ``?``."""
    from fpdf import FPDF  # heavy (fontTools, PIL); loaded only when a pdf is asked for
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    font = _unicode_font()
    if font:
        pdf.add_font("DejaVu", "", str(font[0]))
        pdf.add_font("DejaVu", "B", str(font[1] or font[0]))
        family, encode = "DejaVu", str
    else:
        family = "Helvetica"

        def encode(text: str) -> str:
            return text.encode("latin-1", "replace").decode("latin-1")

    for seg in segments:
        header = _header(seg, request)
        if header:
            pdf.set_font(family, "B", 10)
            pdf.multi_cell(0, 5, encode(header), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(family, "", 11)
        pdf.multi_cell(0, 6, encode(seg.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
    return bytes(pdf.output())


def render_additional_format(transcript: dict, request: FormatRequest | dict) -> dict:
    """Render one requested format as an ElevenLabs ``additional_formats`` item.

    Args:
        transcript: A Dalston transcript dict (:class:`~dalston.contracts.Transcript`).
        request: A :class:`FormatRequest`, or one raw option object (parsed here).

    Returns:
        ``{"requested_format", "file_extension", "content_type", "is_base64_encoded",
        "content"}``; docx and pdf content is base64 text, the rest plain text.

    Raises:
        FormatError: ``request`` is a dict that does not parse.
    """
    if isinstance(request, dict):
        request = _parse_item(request, 0)
    segments = _segments(transcript, request)
    fmt = request.format
    if fmt == "srt":
        content: str | bytes = _srt(segments, request)
    elif fmt == "txt":
        content = _txt(segments, request)
    elif fmt == "segmented_json":
        content = _segmented_json(segments, request)
    elif fmt == "html":
        content = _html(transcript, segments, request)
    elif fmt == "docx":
        content = _docx(segments, request)
    else:
        content = _pdf(segments, request)
    if isinstance(content, bytes):
        content = base64.b64encode(content).decode("ascii")
    return {
        "requested_format": fmt,
        "file_extension": FILE_EXTENSIONS[fmt],
        "content_type": CONTENT_TYPES[fmt],
        "is_base64_encoded": fmt in BINARY_FORMATS,
        "content": content,
    }


def render_additional_formats(transcript: dict, requests: list[FormatRequest]) -> list[dict]:
    """:func:`render_additional_format` for each request, in order."""
    return [render_additional_format(transcript, r) for r in requests]
