"""Engines behind one registry: each stage asks for an engine by name.

``DALSTON_TRANSCRIBE_ENGINE`` picks the transcriber (``faster_whisper``, the default, or
``fake`` for fault injection in tests); ``DALSTON_DIARIZE_ENGINE`` the diarizer
(``dvector``, the offline default). Engines are created once per worker process, lazily,
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


DIARIZERS = {
    "dvector": "dalston.engines.dvector:DVectorDiarizer",
}


def _load(spec: str):
    module, _, attr = spec.partition(":")
    mod = __import__(module, fromlist=[attr])
    return getattr(mod, attr)


def get_transcriber(name: str | None = None):
    """The process-wide transcriber instance for ``name`` (default from the environment)."""
    name = name or os.environ.get("DALSTON_TRANSCRIBE_ENGINE", "faster_whisper")
    if name not in TRANSCRIBERS:
        raise ValueError(f"unknown transcribe engine {name!r}; choose one of {sorted(TRANSCRIBERS)}")
    with _lock:
        key = ("transcribe", name)
        if key not in _instances:
            _instances[key] = _load(TRANSCRIBERS[name])()
        return _instances[key]


ALIGNERS = {
    "pocketsphinx": "dalston.engines.forced_align:PocketsphinxAligner",
}


def get_aligner(name: str | None = None):
    """The process-wide aligner (``DALSTON_ALIGN_ENGINE``, default pocketsphinx)."""
    name = name or os.environ.get("DALSTON_ALIGN_ENGINE", "pocketsphinx")
    if name not in ALIGNERS:
        raise ValueError(f"unknown align engine {name!r}; choose one of {sorted(ALIGNERS)}")
    with _lock:
        return _instances.setdefault(("align", name), _load(ALIGNERS[name])())


#: Engines a worker can be configured with but a request cannot ask for.
TEST_DIARIZERS = {"fake": "dalston.engines.fake:FakeDiarizer"}


def get_diarizer(name: str | None = None):
    """The process-wide diarizer for ``name`` (default ``DALSTON_DIARIZE_ENGINE`` or dvector)."""
    name = name or os.environ.get("DALSTON_DIARIZE_ENGINE", "dvector")
    if name in TEST_DIARIZERS and os.environ.get("DALSTON_DIARIZE_ENGINE") == name:
        with _lock:
            return _instances.setdefault(("diarize", name), _load(TEST_DIARIZERS[name])())
    if name not in DIARIZERS:
        raise ValueError(f"unknown diarize engine {name!r}; choose one of {sorted(DIARIZERS)}")
    with _lock:
        key = ("diarize", name)
        if key not in _instances:
            _instances[key] = _load(DIARIZERS[name])()
        return _instances[key]
