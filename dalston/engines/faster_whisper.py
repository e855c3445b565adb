"""faster-whisper (CTranslate2 Whisper) as the transcribe engine.

Decoding is faster-whisper's batched pipeline: Silero VAD cuts the audio into speech
regions, regions are grouped into 30-second windows, and the windows are decoded in
batches, each on its own (no text carried from one window to the next — the approach of
WhisperX). Two things follow. A chunk cut between windows is decoded exactly as the whole
file would be, so spreading a file over many workers does not change its transcript. And
on CPU it is faster than sequential decoding at the same accuracy on our test speech
(``make bench`` reports both).

Models are loaded once per worker process and kept, keyed by (name, device, compute type,
threads). ``transcribe()`` consumes the lazy segment generator completely and returns plain
dicts, reporting progress (and so giving the caller a chance to stop on cancellation) after
every batch.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from dalston.contracts import Segment
from dalston.engines import models
from dalston.errors import ModelNotAvailable, StageError

log = logging.getLogger(__name__)


def _sec(value) -> float:
    """Plain-float seconds, to the millisecond (faster-whisper may hand out numpy floats)."""
    return round(float(value), 3)


class FasterWhisperTranscriber:
    name = "faster_whisper"

    def __init__(self):
        self._models: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def load(
        self,
        model: str,
        model_dir: Path,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
    ):
        """Load (once) and return the WhisperModel for ``model``.

        Raises:
            ModelNotAvailable: with what to do, when the weights cannot be found or loaded.
        """
        key = (model, device, compute_type, cpu_threads)
        with self._lock:
            if key in self._models:
                return self._models[key]
            from faster_whisper import WhisperModel

            path = models.resolve(model, model_dir)
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
            try:
                loaded = WhisperModel(
                    path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                    download_root=str(model_dir),
                    local_files_only=offline,
                )
            except Exception as exc:  # hub errors, missing files, bad CTranslate2 models
                raise ModelNotAvailable(
                    f"could not load model {model!r}: {exc.__class__.__name__}: {str(exc)[:300]}. "
                    "Use a built-in model (tiny.en, base), an absolute path to a CTranslate2 "
                    "Whisper model directory, or give the worker model-hub access (HF_TOKEN) or a "
                    "pre-downloaded copy in DALSTON_MODEL_DIR."
                ) from exc
            log.info(
                "loaded model %s (%s, %s, threads=%s)", model, device, compute_type, cpu_threads
            )
            self._models[key] = loaded
            return loaded

    def transcribe(
        self,
        samples: np.ndarray,
        *,
        model: str,
        model_dir: Path,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        language: str | None = None,
        prompt: str | None = None,
        vocabulary: list[str] | None = None,
        temperature: float | None = None,
        beam_size: int = 5,
        batch_size: int = 8,
        word_timestamps: bool = True,
        offset: float = 0.0,
        on_progress: Callable[[float], None] | None = None,
    ) -> tuple[list[Segment], str | None, float | None]:
        """Transcribe 16 kHz mono float32 samples.

        Returns:
            (segments on the job timeline — ``offset`` added —, language, language probability)
        """
        whisper = self.load(model, model_dir, device, compute_type, cpu_threads)
        if language and not whisper.model.is_multilingual and language != "en":
            raise StageError(
                "unsupported_language",
                f"model {model!r} is English-only; it cannot transcribe language {language!r}",
            )
        from faster_whisper import BatchedInferencePipeline

        from dalston.stages.prepare import VAD_OPTIONS

        kwargs = dict(
            language=language or None,
            beam_size=beam_size,
            word_timestamps=word_timestamps,
            vad_filter=True,
            vad_parameters=dict(VAD_OPTIONS),
            initial_prompt=prompt or None,
            hotwords=" ".join(vocabulary) if vocabulary else None,
            batch_size=batch_size,
            temperature=0.0 if temperature is None else temperature,
        )
        duration = max(len(samples) / 16000.0, 1e-6)
        generator, info = BatchedInferencePipeline(whisper).transcribe(samples, **kwargs)
        segments: list[Segment] = []
        for seg in generator:
            words = [
                {
                    "text": w.word.strip(),
                    "start": _sec(w.start + offset),
                    "end": _sec(w.end + offset),
                    "confidence": round(float(w.probability), 4),
                    "timing": "whisper",
                }
                for w in (seg.words or [])
                if w.word.strip()
            ]
            text = seg.text.strip()
            if not text:
                continue
            segments.append(
                Segment(
                    start=_sec(seg.start + offset),
                    end=_sec(seg.end + offset),
                    text=text,
                    avg_logprob=round(float(seg.avg_logprob), 4),
                    no_speech_prob=round(float(seg.no_speech_prob), 4),
                    words=words,
                )
            )
            if on_progress:
                on_progress(min(1.0, float(seg.end) / duration))
        return segments, info.language, round(float(info.language_probability), 4)
