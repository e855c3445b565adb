"""faster-whisper (CTranslate2 Whisper) as the transcribe engine.

Decoding is faster-whisper's batched pipeline: Silero VAD cuts the audio into speech
regions, regions are grouped into 30-second windows, and the windows are decoded in batches,
each on its own (no text carried from one window to the next — the approach of WhisperX).
The speech regions come from prepare (``TranscribeOptions.speech``, see
:func:`given_speech`): the VAD runs once per file, not again in every chunk. Two things
follow. A chunk cut between windows is decoded exactly as the whole file would be, so
spreading a file over many workers does not change its transcript. And on CPU it is faster
than sequential decoding at the same accuracy on our test speech (``make bench`` reports
both).

Models are loaded once per worker process and kept, keyed by (name, device, compute type,
threads). ``transcribe()`` consumes the lazy segment generator completely and returns plain
dicts, reporting progress (and so giving the caller a chance to stop on cancellation) after
every batch.

Options beyond faster-whisper's own:

* ``temperature > 0`` samples. The batched pipeline hands CTranslate2 the temperature but
  not ``sampling_topk``, whose default (1) is greedy, so the temperature alone changes
  nothing; here the decoder samples from the whole distribution, ``BEST_OF`` candidates per
  window, and keeps the likeliest — what Whisper itself does at temperature > 0.
* ``seed`` makes that sampling repeatable. ``ctranslate2.set_random_seed`` only seeds a
  decoding thread's generator when the thread first samples (CTranslate2 keeps one
  ``thread_local`` generator per worker thread), so reseeding a model that has sampled
  before changes nothing. A seeded chunk therefore decodes on a fresh replica of the model,
  whose one worker thread seeds its generator from the seed set right before its first
  batch; the replica is dropped afterwards (loading it took 0.15–1.8 s for tiny.en or base
  on a busy 2-core CPU). The result depends on the seed and on how the chunk's windows are
  batched (``batch_size``), so it repeats on the same configuration. At temperature 0 beam
  search is deterministic and the seed is not needed.
* ``task="translate"`` makes a multilingual model write English; English-only models
  cannot (``model_cannot_translate``).
* ``tag_audio_events`` lets Whisper write non-speech annotations ("[Music]", "(laughs)"),
  which it is otherwise prevented from writing, and labels them (``audio_events``).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import logging
import math
import os
import threading
from pathlib import Path
from typing import Callable

import ctranslate2
import faster_whisper.transcribe
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.utils import download_model

from dalston.characters import character_times
from dalston.config import Settings, get_settings
from dalston.contracts import Segment, Word
from dalston.engines import audio_events, models
from dalston.engines.base import Capabilities, TranscribeOptions
from dalston.errors import ModelNotAvailable, StageError
from dalston.vad import VAD_OPTIONS, find_speech

log = logging.getLogger(__name__)

#: Candidates sampled per 30-second window at temperature > 0 (Whisper's ``best_of``).
BEST_OF = 5
TASKS = ("transcribe", "translate")
#: Seeding happens when a fresh replica first samples; one seeding at a time per process.
_seed_lock = threading.Lock()


#: Speech regions (in samples) the batched pipeline is to use instead of running its VAD.
_given_speech: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar(
    "dalston_given_speech", default=None
)
_vad = faster_whisper.transcribe.get_speech_timestamps


def _speech_timestamps(audio, vad_options=None, sampling_rate=16000, **kwargs):
    """faster-whisper's VAD, unless the decode in this context was given prepare's regions.

    ``BatchedInferencePipeline.transcribe`` with ``vad_filter=True`` calls this, then joins
    the regions into 30-second windows of speech (``collect_chunks``). Its other way in,
    ``clip_timestamps``, decodes each region as its own window, silence between included,
    which is not what a whole-file decode sees. Handing the pipeline the same regions
    where it looks them up keeps every window identical and skips the second VAD pass.
    """
    given = _given_speech.get()
    if given is None:
        return _vad(audio, vad_options, sampling_rate, **kwargs)
    return [dict(r) for r in given]


def install_speech_hook() -> None:
    """Route the batched pipeline's VAD look-up through :func:`_speech_timestamps` (idempotent)."""
    faster_whisper.transcribe.get_speech_timestamps = _speech_timestamps


@contextlib.contextmanager
def given_speech(regions: tuple[tuple[float, float], ...] | None):
    """Within the block, a decode uses ``regions`` (seconds from the audio's start) as its VAD."""
    if regions is None:
        yield
        return
    token = _given_speech.set(
        [{"start": round(a * SAMPLE_RATE), "end": round(b * SAMPLE_RATE)} for a, b in regions]
    )
    try:
        yield
    finally:
        _given_speech.reset(token)


def _sec(value) -> float:
    """Plain-float seconds, to the millisecond (faster-whisper may hand out numpy floats)."""
    return round(float(value), 3)


class FasterWhisperTranscriber:
    name = "faster_whisper"

    capabilities = Capabilities(word_timing=True)

    def __init__(self, settings: Settings | None = None):
        self._offline = (settings or get_settings()).hf_hub_offline
        self._models: dict[tuple, object] = {}
        self._paths: dict[tuple, str] = {}
        self._lock = threading.Lock()
        install_speech_hook()

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
            try:
                path = self._local_path(models.resolve(model, model_dir), model_dir, self._offline)
                loaded = WhisperModel(
                    path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                )
            except ModelNotAvailable:
                raise
            except Exception as exc:  # hub errors, missing files, bad CTranslate2 models
                raise ModelNotAvailable(
                    f"could not load model {model!r}: {exc.__class__.__name__}: {str(exc)[:300]}. "
                    "Use a built-in model (tiny.en, base), an absolute path to a CTranslate2 "
                    "Whisper model directory, or give the worker model-hub access (HF_TOKEN) or a "
                    "pre-downloaded copy in DALSTON_MODEL_DIR."
                ) from exc
            log.info(
                "loaded model %s (%s, %s, threads=%s)",
                model,
                device,
                compute_type,
                cpu_threads,
            )
            self._models[key] = loaded
            self._paths[key] = path
            return loaded

    @staticmethod
    def _local_path(path: str, model_dir: Path, offline: bool) -> str:
        """The model's directory, downloading a hub model first (as WhisperModel would).

        Kept so that a seeded decode can load a fresh replica from the same files.
        """
        if os.path.isdir(path):
            return path
        return download_model(path, local_files_only=offline, cache_dir=str(model_dir))

    def _replica(self, whisper, key: tuple, seed: int):
        """A copy of ``whisper`` on a fresh CTranslate2 replica that samples with ``seed``."""
        model, device, compute_type, cpu_threads = key
        fresh = ctranslate2.models.Whisper(
            self._paths[key],
            device=device,
            compute_type=compute_type,
            intra_threads=cpu_threads,
            inter_threads=1,
        )
        replica = copy.copy(whisper)
        replica.model = _Sampling(fresh, seed)
        return replica

    def _decoder(self, whisper, key: tuple, temperature: float, seed: int | None):
        """The model to decode with: as loaded, or sampling (seeded on a fresh replica)."""
        if temperature <= 0:
            return whisper
        if seed is None:
            replica = copy.copy(whisper)
            replica.model = _Sampling(whisper.model, None)
            return replica
        return self._replica(whisper, key, seed)

    def transcribe(
        self,
        samples: np.ndarray,
        options: TranscribeOptions,
        *,
        offset: float = 0.0,
        on_progress: Callable[[float], None] | None = None,
    ) -> tuple[list[Segment], str | None, float | None]:
        """Transcribe (or translate into English) 16 kHz mono float32 samples.

        Args:
            options: ``seed`` makes sampling (temperature > 0) repeatable (see the module
                docstring); ``task`` is ``transcribe`` or ``translate`` (multilingual models
                only); ``tag_audio_events`` lets Whisper write "[Music]"-style events and
                keeps them as ``type: "audio_event"`` words, otherwise they are dropped.

        Returns:
            (segments on the job timeline — ``offset`` added —, language, language probability)

        Raises:
            StageError: ``unsupported_language`` / ``model_cannot_translate`` for an
                English-only model asked for another language or for translation.
        """
        spec = options.model
        key = (spec.model, spec.device, spec.compute_type, spec.cpu_threads)
        whisper = self.load(
            spec.model, spec.model_dir, spec.device, spec.compute_type, spec.cpu_threads
        )
        _check_model(whisper, spec.model, options.language, options.task)
        temperature = 0.0 if options.temperature is None else float(options.temperature)
        kwargs = dict(
            language=options.language or None,
            task=options.task,
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
            vad_filter=True,
            vad_parameters=dict(VAD_OPTIONS),
            initial_prompt=options.prompt or None,
            hotwords=" ".join(options.vocabulary) if options.vocabulary else None,
            batch_size=spec.batch_size,
            temperature=temperature,
            suppress_tokens=_suppress_tokens(whisper, options.tag_audio_events),
        )
        decoder = self._decoder(whisper, key, temperature, options.seed)
        keep_events = options.tag_audio_events

        def decode(audio: np.ndarray, start: float, report, **override) -> tuple[list, object]:
            generator, info = BatchedInferencePipeline(decoder).transcribe(
                audio, **{**kwargs, **override}
            )
            length = max(len(audio) / SAMPLE_RATE, 1e-6)
            out = []
            for seg in generator:
                segment = _segment(seg, start, whisper.frames_per_second, keep_events)
                if segment is not None:
                    out.append(segment)
                if report:
                    report(min(1.0, float(seg.end) / length))
            return out, info

        with given_speech(options.speech):
            segments, info = decode(samples, offset, on_progress)
        language, probability = info.language, round(float(info.language_probability), 4)
        if options.language is None and options.task == "transcribe":
            regions = (
                [{"start": a, "end": b} for a, b in options.speech]
                if options.speech is not None
                else None
            )
            runs = language_runs(whisper, samples, segments, offset, info, regions)
            if len({run.language for run in runs}) > 1:
                # Code-switched: each run of one language is decoded in that language.
                segments = []
                for run in runs:
                    a, b = round(run.start * SAMPLE_RATE), round(run.end * SAMPLE_RATE)
                    part, _ = decode(samples[a:b], offset + run.start, None, language=run.language)
                    segments.extend(dict(s, language=run.language) for s in part)
                language = dominant_language(segments) or language
                probability = next((r.probability for r in runs if r.language == language), None)
        for segment in segments:
            segment.setdefault("language", language)
        return segments, language, probability


#: A whole-chunk language detection less sure than this makes every speech region be checked.
MIXED_LANGUAGE_PROBABILITY = 0.9
#: A region's own detection counts at or above this probability, for regions this long.
REGION_LANGUAGE_PROBABILITY = 0.5
MIN_REGION_SECONDS = 1.5
SAMPLE_RATE = 16000


@dataclasses.dataclass
class LanguageRun:
    """A stretch of the chunk (seconds from its start) spoken in one language."""

    start: float
    end: float
    language: str
    probability: float | None = None


def language_runs(
    whisper, samples: np.ndarray, segments: list, offset: float, info, regions=None
) -> list:
    """Where a multilingual chunk switches language, from Whisper's detection per speech region.

    The batched pipeline detects one language per chunk and decodes everything in it, so a
    chunk that goes from English to German comes back English (the German translated, or
    dropped). Each speech region (VAD, split at pauses of a second or more) is checked on
    its own — one extra encoder pass per region — only when the chunk-wide detection was
    unsure or a region produced no text, so a one-language chunk costs nothing more.
    Regions too short to tell, or detected without confidence, keep the language before
    them. Returns one run covering the chunk when nothing switches.
    """
    length = len(samples) / SAMPLE_RATE
    single = [LanguageRun(0.0, length, info.language)]
    if not whisper.model.is_multilingual:
        return single
    regions = find_speech(samples) if regions is None else regions
    silent = [
        r
        for r in regions
        if not any(
            s["start"] - offset < r["end"] and s["end"] - offset > r["start"] for s in segments
        )
    ]
    if info.language_probability >= MIXED_LANGUAGE_PROBABILITY and not silent:
        return single
    runs: list[LanguageRun] = []
    for region in regions:
        language, probability = (runs[-1].language, None) if runs else (info.language, None)
        if region["end"] - region["start"] >= MIN_REGION_SECONDS:
            a, b = round(region["start"] * SAMPLE_RATE), round(region["end"] * SAMPLE_RATE)
            detected, confidence, _ = whisper.detect_language(samples[a:b])
            if confidence >= REGION_LANGUAGE_PROBABILITY:
                language, probability = detected, round(float(confidence), 4)
        if runs and runs[-1].language == language:
            runs[-1].end = region["end"]
            runs[-1].probability = max(runs[-1].probability or 0, probability or 0) or None
        else:
            runs.append(LanguageRun(region["start"], region["end"], language, probability))
    if not runs:
        return single
    # Runs meet halfway between their regions, and together cover the chunk.
    runs[0].start, runs[-1].end = 0.0, length
    for before, after in zip(runs, runs[1:]):
        before.end = after.start = round((before.end + after.start) / 2, 3)
    return runs


def dominant_language(segments: list) -> str | None:
    """The language spoken longest in ``segments``."""
    seconds: dict[str, float] = {}
    for seg in segments:
        if seg.get("language"):
            seconds[seg["language"]] = seconds.get(seg["language"], 0.0) + seg["end"] - seg["start"]
    return max(seconds, key=seconds.get) if seconds else None


class _Sampling:
    """A CTranslate2 Whisper model as the batched pipeline sees it, made to really sample.

    Every ``generate`` call becomes ``BEST_OF`` samples from the whole distribution
    (``beam_size=1, sampling_topk=0``; CTranslate2 returns the likeliest first, which the
    pipeline keeps). With a seed, the first call sets it under a process-wide lock: that
    call creates the replica's thread generator, which later calls keep drawing from.
    """

    def __init__(self, inner, seed: int | None):
        self._inner = inner
        self._seed = seed

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def generate(self, *args, **kwargs):
        kwargs.update(beam_size=1, sampling_topk=0, num_hypotheses=BEST_OF)
        if self._seed is None:
            return self._inner.generate(*args, **kwargs)
        with _seed_lock:
            ctranslate2.set_random_seed(self._seed)
            self._seed = None
            return self._inner.generate(*args, **kwargs)


def _check_model(whisper, model: str, language: str | None, task: str) -> None:
    """Refuse what an English-only model cannot do, before decoding anything."""
    if task not in TASKS:
        raise StageError("invalid_option", f"task must be one of {TASKS}, not {task!r}")
    if whisper.model.is_multilingual:
        return
    if task == "translate":
        raise StageError(
            "model_cannot_translate",
            f"model {model!r} is English-only and cannot translate; "
            "use a multilingual model such as 'base'",
        )
    if language and language != "en":
        raise StageError(
            "unsupported_language",
            f"model {model!r} is English-only; it cannot transcribe language {language!r}",
        )


def _suppress_tokens(whisper, tag_audio_events: bool) -> list[int]:
    """Whisper's default suppression (``[-1]``: non-speech symbols and special tokens), or,
    when audio events are wanted, the special tokens only.

    faster-whisper adds the special tokens (sot, transcribe, translate, …) to any non-empty
    list but skips an empty one, so the list names one of them rather than being empty.
    """
    if not tag_audio_events:
        return [-1]
    sot = whisper.hf_tokenizer.token_to_id("<|startoftranscript|>")
    return [sot] if sot is not None else []


def _word(w, offset: float) -> Word:
    """A faster-whisper Word as a contract Word (characters are added per segment)."""
    text, start, end = w.word.strip(), _sec(w.start + offset), _sec(w.end + offset)
    probability = float(w.probability)
    return Word(
        text=text,
        start=start,
        end=end,
        confidence=round(probability, 4),
        logprob=round(math.log(max(probability, 1e-10)), 4),
        type="word",
        timing="whisper",
    )


def _segment(seg, offset: float, frames_per_second: int, keep_events: bool) -> Segment | None:
    """A faster-whisper Segment on the job timeline, with its events labelled or dropped;
    None when nothing is left of it."""
    words = audio_events.label_words(
        [_word(w, offset) for w in (seg.words or []) if w.word.strip()], keep_events
    )
    text = seg.text.strip() if keep_events else audio_events.strip_events(seg.text)
    if not text:
        return None
    return Segment(
        start=_sec(seg.start + offset),
        end=_sec(seg.end + offset),
        text=text,
        type=audio_events.segment_type(text),
        seek=int(seg.seek) + int(round(offset * frames_per_second)),
        tokens=[int(t) for t in seg.tokens],
        temperature=float(seg.temperature or 0.0),
        avg_logprob=round(float(seg.avg_logprob), 4),
        compression_ratio=round(float(seg.compression_ratio), 4),
        no_speech_prob=round(float(seg.no_speech_prob), 4),
        # Spread evenly over each word until the align stage times them from phones.
        words=[dict(w, characters=character_times(w["text"], w["start"], w["end"])) for w in words],
    )
