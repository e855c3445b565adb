"""Engines behind one registry: each stage asks for an engine by name.

``DALSTON_TRANSCRIBE_ENGINE`` picks the transcriber (``faster_whisper``, the default, or
``fake`` for fault injection in tests); ``DALSTON_ALIGN_ENGINE`` the aligner
(``pocketsphinx``); ``DALSTON_DIARIZE_ENGINE`` the diarizer (``dvector``, the offline
default). Engines are created once per worker process, lazily,
inside the process that uses them (CUDA does not survive a fork).
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
}
DIARIZERS = {
    "dvector": "dalston.engines.dvector:DVectorDiarizer",
}
#: Diarizers a worker can be configured with (``DALSTON_DIARIZE_ENGINE``) but a request
#: cannot ask for: fault injection in tests.
TEST_DIARIZERS = {"fake": "dalston.engines.fake:FakeDiarizer"}


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
    """The diarizer ``name`` (default ``DALSTON_DIARIZE_ENGINE``, else dvector)."""
    configured = os.environ.get("DALSTON_DIARIZE_ENGINE")
    name = name or configured or "dvector"
    registry = {**DIARIZERS, **TEST_DIARIZERS} if name == configured else DIARIZERS
    return _engine("diarize", registry, name)
