"""Typed engine options for tests that call engines and stages directly."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from dalston.engines.base import ModelSpec, TranscribeOptions

_MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}


def transcribe_options(
    model: str = "tiny.en", model_dir: Path | None = None, cpu_threads: int = 2, **fields
) -> TranscribeOptions:
    """``TranscribeOptions`` from flat keywords (ModelSpec fields go to the model spec)."""
    spec = {k: fields.pop(k) for k in list(fields) if k in _MODEL_FIELDS}
    if fields.get("vocabulary") is not None:
        fields["vocabulary"] = tuple(fields["vocabulary"])
    return TranscribeOptions(
        model=ModelSpec(
            model=model,
            model_dir=Path(model_dir or os.environ["DALSTON_MODEL_DIR"]),
            cpu_threads=cpu_threads,
            **spec,
        ),
        **fields,
    )
