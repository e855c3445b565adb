"""Engines behind one registry: ``get_engine(kind, name)``.

``ENGINES`` maps each kind (``transcriber``, ``aligner``, ``diarizer``, ``pipeline``) to its
engines by name, as ``"module:Class"`` strings imported on first use, so importing this
package loads no model library. Adding an engine is one module and one line here (plus its
extra in ``setup.cfg``).

Which engine runs: the request's choice (``JobOptions.align_engine`` …) when it names one,
else the worker's default from the settings (``DALSTON_ALIGN_ENGINE``, ``DALSTON_DIARIZE_ENGINE``,
``DALSTON_TRANSCRIBE_ENGINE``). Instances are created once per process, lazily, with the
process settings (``Engine(settings)``), inside the process that uses them (CUDA does not
survive a fork).

Test fakes are not in this table: a test registers them with :func:`register`, in its own
process or, for worker processes it starts, through ``DALSTON_ENGINE_PLUGINS`` (modules the
registry imports once before the first lookup; each calls :func:`register`).
"""

from __future__ import annotations

import importlib
import threading

from dalston.config import Settings, get_settings
from dalston.engines.base import KINDS, EngineKind

ENGINES: dict[EngineKind, dict[str, str]] = {
    "transcriber": {
        "faster_whisper": "dalston.engines.faster_whisper:FasterWhisperTranscriber",
    },
    "aligner": {
        "pocketsphinx": "dalston.engines.forced_align:PocketsphinxAligner",
        "whisper": "dalston.engines.whisper_timing:WhisperTimings",
        "whisperx": "dalston.engines.whisperx:WhisperXAligner",
    },
    "diarizer": {
        "neural": "dalston.engines.neural_diarize:NeuralDiarizer",
        "dvector": "dalston.engines.dvector:DVectorDiarizer",
        "pyannote": "dalston.engines.pyannote:PyannoteDiarizer",
    },
    #: Engines that transcribe, align and diarize a whole file in one task (their own stage).
    "pipeline": {
        "whisperx-full": "dalston.engines.whisperx:WhisperXFull",
    },
}

_lock = threading.RLock()
_instances: dict[tuple[str, str], object] = {}
_registered: dict[tuple[str, str], object] = {}
_plugins_loaded = False


class UnknownEngine(ValueError):
    """A name that is not in the registry for that kind."""


def register(kind: EngineKind, name: str, factory) -> None:
    """Add (or replace) engine ``name`` of ``kind``: a class or callable taking the settings.

    For tests: fault-injection engines and stand-ins for engines whose weights cannot be had.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown engine kind {kind!r}")
    with _lock:
        _registered[(kind, name)] = factory
        _instances.pop((kind, name), None)


def unregister(kind: EngineKind, name: str) -> None:
    with _lock:
        _registered.pop((kind, name), None)
        _instances.pop((kind, name), None)


def _load_plugins(settings: Settings) -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in settings.engine_plugins:
        importlib.import_module(module)


def names(kind: EngineKind) -> tuple[str, ...]:
    """The engine names a request may choose for ``kind`` (the shipped table only)."""
    return tuple(ENGINES[kind])


def default_name(kind: EngineKind, settings: Settings | None = None) -> str:
    """The worker's engine for ``kind`` when the request names none."""
    settings = settings or get_settings()
    return {
        "transcriber": settings.transcribe_engine,
        "aligner": settings.align_engine,
        "diarizer": settings.diarize_engine,
        "pipeline": "whisperx-full",
    }[kind]


def get_engine(kind: EngineKind, name: str | None = None, settings: Settings | None = None):
    """The one instance of engine ``name`` (default: the worker's) of ``kind`` in this process.

    Raises:
        UnknownEngine: ``name`` is neither in ``ENGINES`` nor registered.
    """
    settings = settings or get_settings()
    name = name or default_name(kind, settings)
    with _lock:
        _load_plugins(settings)
        key = (kind, name)
        if key not in _instances:
            factory = _registered.get(key)
            if factory is None:
                target = ENGINES[kind].get(name)
                if target is None:
                    known = sorted(set(ENGINES[kind]) | {n for k, n in _registered if k == kind})
                    raise UnknownEngine(f"unknown {kind} {name!r}; choose one of {known}")
                module, _, attr = target.partition(":")
                factory = getattr(importlib.import_module(module), attr)
            _instances[key] = factory(settings)
        return _instances[key]
