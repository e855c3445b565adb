"""whisperX engines, for GPU hosts with their weights: wav2vec2 alignment and a full pipeline.

* ``WhisperXAligner`` (``align_engine=whisperx``) re-times the words faster-whisper heard with
  a wav2vec2 CTC model (``whisperx.load_align_model`` + ``whisperx.align``), in any language
  whisperX has a model for, where pocketsphinx covers English only.
* ``WhisperXFull`` (``transcribe_engine=whisperx-full``) runs whisperX's own pipeline in one
  task: batched transcription, alignment, pyannote diarization and
  ``whisperx.assign_word_speakers``.

Neither can run on a host without hub access: whisperX's alignment models and pyannote's
pipelines exist only on the Hugging Face hub (and the torchaudio on PyPI is a CUDA build;
models.md §4, §6). So the library is imported lazily, models are loaded once per process on
first use, and a missing library or missing weights fail the job with ``model_not_available``
and a message naming the setting to fix. Settings: ``DALSTON_WHISPERX_ALIGN_MODEL`` (one
model, or ``en=<model>,fr=<model>``; default whisperX's model for the language),
``DALSTON_MODEL_DIR`` (where whisperX caches models), ``HF_TOKEN``, ``HF_HUB_OFFLINE``.

whisperX re-splits the text it aligns on spaces (characters in Chinese and Japanese), so its
words are matched back to Whisper's words by character position; a word it could not time
keeps Whisper's time and says ``timing: "whisper"``, the others ``timing: "wav2vec2"``.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from dalston.config import Settings, get_settings
from dalston.engines import models
from dalston.engines.base import Capabilities, PipelineOptions
from dalston.engines.pyannote import PyannoteDiarizer
from dalston.errors import ModelNotAvailable

log = logging.getLogger(__name__)

ALIGN_FIX = (
    "Set DALSTON_WHISPERX_ALIGN_MODEL to a wav2vec2 CTC model for the language (a hub id or a "
    "local directory; 'en=<model>,fr=<model>' for several), with its weights in "
    "DALSTON_MODEL_DIR (whisperX's cache: with HF_HUB_OFFLINE=1 nothing is downloaded) or "
    "downloadable with hub access (HF_TOKEN); or use align_engine=pocketsphinx (English) or "
    "align_engine=whisper."
)
FULL_FIX = (
    "The whisperx-full engine needs whisperX's Whisper and alignment models (see "
    "DALSTON_WHISPERX_ALIGN_MODEL, DALSTON_MODEL_DIR, HF_HUB_OFFLINE, HF_TOKEN) and, for "
    "diarization, a pyannote pipeline (DALSTON_PYANNOTE_PIPELINE); or use "
    "transcribe_engine=faster_whisper."
)


def import_whisperx(fix: str):
    """The whisperx module, or ModelNotAvailable saying how to install it."""
    try:
        import whisperx  # the optional ``gpu`` extra
    except (ImportError, OSError) as exc:  # OSError: PyPI's CUDA-only torchaudio build
        raise ModelNotAvailable(
            f"whisperx cannot be imported on this worker ({exc}): install the gpu extra "
            "(pip install 'dalston[gpu]') on it. " + fix
        ) from exc
    return whisperx


def align_model_name(language: str, setting: str | None) -> str | None:
    """``DALSTON_WHISPERX_ALIGN_MODEL`` (``setting``) for ``language``; None lets whisperX pick."""
    value = (setting or "").strip()
    if "=" not in value:
        return value or None
    mapping = dict(item.strip().split("=", 1) for item in value.split(",") if "=" in item)
    return mapping.get(language) or None


def _seconds(value) -> float | None:
    """A finite float, or None (whisperX leaves untimed words without start/end, or NaN)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _timed(word: dict) -> tuple[float, float] | None:
    start, end = _seconds(word.get("start")), _seconds(word.get("end"))
    return (start, end) if start is not None and end is not None and end >= start else None


def _letters(text: str) -> str:
    return "".join(str(text).split())


def word_times(words: list[dict], aligned: list[dict]) -> list[tuple[float, float] | None]:
    """For each of Whisper's ``words``, the span of the whisperX words covering its letters.

    whisperX's words are the aligned text split on spaces (or into characters), so both lists
    spell the same letters; each Whisper word takes the times of the whisperX words that
    overlap its letters. If the letters differ, or no overlapping word was timed: None.
    """
    if "".join(_letters(w.get("word", "")) for w in aligned) != "".join(
        _letters(w["text"]) for w in words
    ):
        return [None] * len(words)
    spans, pos = [], 0
    for w in aligned:
        n = len(_letters(w.get("word", "")))
        times = _timed(w)
        if times and n:
            spans.append((pos, pos + n, *times))
        pos += n
    out, pos = [], 0
    for w in words:
        n = len(_letters(w["text"]))
        hits = [(s, e) for a, b, s, e in spans if a < pos + n and b > pos]
        out.append((min(s for s, _ in hits), max(e for _, e in hits)) if hits else None)
        pos += n
    return out


class WhisperXAligner:
    name = "whisperx"
    #: Every language: whisperX has default models for many, and DALSTON_WHISPERX_ALIGN_MODEL
    #: supplies the others. The align stage passes each chunk's language.
    capabilities = Capabilities(languages=None, needs_gpu=True)

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        device: str | None = None,
        model_dir: Path | None = None,
    ):
        settings = settings or get_settings()
        self._lock = threading.RLock()
        self._models: dict[tuple[str, str], tuple] = {}
        self._device = device or settings.device
        self._model_dir = model_dir or settings.model_dir
        self._model_setting = settings.whisperx_align_model

    def load(self, language: str, device: str | None = None):
        """``(whisperx, model, metadata, device)`` for ``language``, loaded once per process.

        Raises:
            ModelNotAvailable: whisperx is not installed, or the model cannot be found.
        """
        wx = import_whisperx(ALIGN_FIX)
        model_dir = self._model_dir
        device = device or self._device
        with self._lock:
            key = (language, device)
            if key not in self._models:
                model_name = align_model_name(language, self._model_setting)
                try:
                    self._models[key] = wx.load_align_model(
                        language_code=language,
                        device=device,
                        model_name=model_name,
                        model_dir=str(model_dir),
                    )
                except Exception as exc:  # no default model, hub unreachable, cache miss
                    raise ModelNotAvailable(
                        f"could not load the whisperX alignment model for language {language!r} "
                        f"({model_name or 'whisperX default'}): {exc.__class__.__name__}: "
                        f"{str(exc)[:300]}. " + ALIGN_FIX
                    ) from exc
                log.info("loaded whisperX alignment model for %s on %s", language, device)
            model, metadata = self._models[key]
        return wx, model, metadata, device

    def align(
        self,
        samples: np.ndarray,
        offset: float,
        segments: list[dict],
        language: str = "en",
        characters: bool = False,
    ) -> list[dict]:
        """Segments with wav2vec2 word times; ``samples`` start at ``offset`` on the job timeline.

        Each segment is aligned on its own, against Whisper's own words joined by spaces, so
        whisperX's words map back to Whisper's (and a segment it cannot align keeps Whisper's
        times).
        """
        wx, model, metadata, device = self.load(language or "en")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        out = []
        with self._lock:  # one model per process, used by one task at a time
            for seg in segments:
                words = [w for w in seg.get("words") or []]
                new_words = [dict(w, timing="whisper") for w in words]
                if words:
                    chunk_relative = {
                        "start": max(0.0, seg["start"] - offset),
                        "end": max(0.0, seg["end"] - offset),
                        "text": " ".join(w["text"] for w in words),
                    }
                    result = wx.align(
                        [chunk_relative], model, metadata, samples, device,
                        return_char_alignments=False,
                    )  # fmt: skip
                    aligned = [w for s in result["segments"] for w in s.get("words") or []]
                    for word, times in zip(new_words, word_times(words, aligned)):
                        if times:
                            word.update(
                                start=round(times[0] + offset, 3),
                                end=round(times[1] + offset, 3),
                                timing="wav2vec2",
                            )
                out.append(dict(seg, words=new_words))
        return out


def full_segments(segments: list[dict]) -> list[dict]:
    """Dalston segments from whisperX's aligned (and speaker-assigned) segments.

    A word whisperX could not time is placed between its timed neighbours and says
    ``timing: "interpolated"`` (there are no Whisper word times to fall back on here).
    """
    out = []
    for seg in segments:
        text = str(seg.get("text") or "").strip()
        raw = [w for w in seg.get("words") or [] if str(w.get("word") or "").strip()]
        timed = [t for t in (_timed(w) for w in raw) if t]
        start = _seconds(seg.get("start"))
        end = _seconds(seg.get("end"))
        start = start if start is not None else (timed[0][0] if timed else None)
        end = end if end is not None else (timed[-1][1] if timed else None)
        if not text or start is None or end is None:
            continue
        words, previous = [], start
        for i, w in enumerate(raw):
            times = _timed(w)
            timing = "wav2vec2"
            if times is None:
                following = next((t[0] for t in map(_timed, raw[i + 1 :]) if t), end)
                times, timing = (previous, max(previous, following)), "interpolated"
            previous = times[1]
            word = {
                "text": str(w["word"]).strip(),
                "start": round(times[0], 3),
                "end": round(times[1], 3),
                "confidence": _seconds(w.get("score")),
                "timing": timing,
            }
            if w.get("speaker") is not None:
                word["speaker"] = str(w["speaker"])
            words.append(word)
        segment = {"start": round(start, 3), "end": round(max(start, end), 3), "text": text}
        if seg.get("speaker") is not None:
            segment["speaker"] = str(seg["speaker"])
        out.append(dict(segment, words=words))
    out.sort(key=lambda s: (s["start"], s["end"]))
    return out


class WhisperXFull:
    """transcribe + align + diarize + assign speakers in one task, whisperX's own pipeline."""

    name = "whisperx-full"

    capabilities = Capabilities(needs_gpu=True)

    def __init__(self, settings: Settings | None = None):
        self._lock = threading.RLock()
        self._asr: dict[tuple, object] = {}
        self.aligner = WhisperXAligner(settings)
        self.diarizer = PyannoteDiarizer(settings)

    def _load_asr(self, wx, model, model_dir, device, compute_type, language):
        key = (model, device, compute_type, language)
        if key not in self._asr:
            path = models.resolve(model, Path(model_dir))
            try:
                self._asr[key] = wx.load_model(
                    path,
                    device,
                    compute_type=compute_type,
                    language=language,
                    download_root=str(model_dir),
                )
            except Exception as exc:  # hub unreachable, cache miss, VAD model missing
                raise ModelNotAvailable(
                    f"whisperX could not load the Whisper model {model!r}: "
                    f"{exc.__class__.__name__}: {str(exc)[:300]}. " + FULL_FIX
                ) from exc
        return self._asr[key]

    def run(
        self,
        samples: np.ndarray,
        options: PipelineOptions,
        *,
        on_progress: Callable[[float], None] | None = None,
    ) -> dict:
        """``{segments, language, language_probability, turns}`` for the whole file.

        Times are on the file's timeline (the whole prepared audio, offset 0).
        """
        wx = import_whisperx(FULL_FIX)
        spec, language = options.model, options.language
        model, model_dir, device = spec.model, spec.model_dir, spec.device
        report = on_progress or (lambda _fraction: None)
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if language is None and model.endswith(".en"):
            language = "en"  # whisperX only sees a path, so it cannot tell
        with self._lock:
            asr = self._load_asr(wx, model, model_dir, device, spec.compute_type, language)
            result = asr.transcribe(samples, batch_size=spec.batch_size, language=language)
            report(0.5)
            detected = result.get("language") or language or "en"
            _wx, align_model, metadata, _device = self.aligner.load(detected, device)
            aligned = wx.align(
                result["segments"], align_model, metadata, samples, device,
                return_char_alignments=False,
            )  # fmt: skip
            report(0.7)
            turns: list[dict] = []
            if options.diarize:
                turns = self.diarizer.diarize(samples, None, options.speakers)
                if turns:
                    import pandas as pd  # whisperX's dependency, only on GPU images

                    aligned = wx.assign_word_speakers(pd.DataFrame(turns), aligned)
            report(1.0)
        return {
            "segments": full_segments(aligned["segments"]),
            "language": detected,
            "language_probability": None,
            "turns": turns,
        }
