"""Engines behind one registry: each stage asks for an engine by name.

``DALSTON_TRANSCRIBE_ENGINE`` picks the transcriber (``faster_whisper``, the default, or
``fake`` for fault injection in tests); ``DALSTON_ALIGN_ENGINE`` the default aligner
(``pocketsphinx``; ``whisper`` keeps Whisper's word times; ``whisperx`` is wav2vec2 CTC
alignment); ``DALSTON_DIARIZE_ENGINE`` the default diarizer (``neural``, the offline
default: segmentation-3.0 + CAM++; ``dvector``; or ``pyannote``). A request may name its
own aligner (``align_engine``) and diarizer (``diarize_engine``) from these registries,
and ``transcribe_engine=whisperx-full`` sends the whole job to one ``PIPELINES`` engine.
Engines are created once per worker process, lazily, inside the process that uses them
(CUDA does not survive a fork).
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_instances: dict[tuple[str, str], object] = {}

TRANSCRIBERS = {
    "faster_whisper": "dalston.engines.faster_whisper:FasterWhisperTranscriber",
    "fake": "dalston.engines.fake:FakeTranscriber",
}
ALIGNERS = {
    "pocketsphinx": "dalston.engines.forced_align:PocketsphinxAligner",
    "whisper": "dalston.engines.whisper_timing:WhisperTimings",
    "whisperx": "dalston.engines.whisperx:WhisperXAligner",
}
DIARIZERS = {
    "dvector": "dalston.engines.dvector:DVectorDiarizer",
    "pyannote": "dalston.engines.pyannote:PyannoteDiarizer",
    "neural": "dalston.engines.neural_diarize:NeuralDiarizer",
}
#: Engines that transcribe, align and diarize in one task (their own queue and stage).
PIPELINES = {
    "whisperx-full": "dalston.engines.whisperx:WhisperXFull",
}
#: What a request's ``transcribe_engine`` may name: the chunked faster-whisper pipeline
#: (whose transcriber is the worker's ``DALSTON_TRANSCRIBE_ENGINE``) or a full pipeline.
TRANSCRIBE_ENGINES = ("faster_whisper", *PIPELINES)
#: Diarizers a worker can be configured with (``DALSTON_DIARIZE_ENGINE``) but a request
#: cannot ask for: fault injection in tests.
TEST_DIARIZERS = {"fake": "dalston.engines.fake:FakeDiarizer"}
#: The same for full pipelines (``DALSTON_WHISPERX_FULL_ENGINE=fake``): a stand-in for
#: whisperx-full, whose weights cannot be had offline, so its canvas can be tested.
TEST_PIPELINES = {"fake": "dalston.engines.fake:FakeFullPipeline"}


def _engine(stage: str, registry: dict[str, str], name: str):
    """The one instance of engine ``name`` for ``stage`` in this process, created on first use."""
    if name not in registry:
        raise ValueError(f"unknown {stage} engine {name!r}; choose one of {sorted(registry)}")
    with _lock:
        key = (stage, name)
        if key not in _instances:
            module, _, attr = registry[name].partition(":")
            _instances[key] = getattr(__import__(module, fromlist=[attr]), attr)()
        return _instances[key]


def get_transcriber(name: str | None = None):
    """The transcriber ``name`` (default ``DALSTON_TRANSCRIBE_ENGINE``, else faster_whisper)."""
    name = name or os.environ.get("DALSTON_TRANSCRIBE_ENGINE", "faster_whisper")
    return _engine("transcribe", TRANSCRIBERS, name)


def get_aligner(name: str | None = None):
    """The aligner ``name`` (default ``DALSTON_ALIGN_ENGINE``, else pocketsphinx)."""
    return _engine(
        "align", ALIGNERS, name or os.environ.get("DALSTON_ALIGN_ENGINE", "pocketsphinx")
    )


def get_diarizer(name: str | None = None):
    """The diarizer ``name`` (default ``DALSTON_DIARIZE_ENGINE``, else neural: it scores
    better than dvector on every file of tests/bench/diarization_eval.py but one)."""
    configured = os.environ.get("DALSTON_DIARIZE_ENGINE")
    name = name or configured or "neural"
    registry = {**DIARIZERS, **TEST_DIARIZERS} if name == configured else DIARIZERS
    return _engine("diarize", registry, name)


def get_pipeline(name: str = "whisperx-full"):
    """The full-pipeline engine ``name``; ``DALSTON_WHISPERX_FULL_ENGINE=fake`` swaps in the
    test stand-in for whisperx-full."""
    if name == "whisperx-full" and os.environ.get("DALSTON_WHISPERX_FULL_ENGINE") == "fake":
        return _engine("pipeline", TEST_PIPELINES, "fake")
    return _engine("pipeline", PIPELINES, name)
