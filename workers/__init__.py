"""Worker entry points, one per Celery queue: ``python -m workers.<queue>``.

This package imports ``dalston``; ``dalston`` never imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent


def entry_points(directory: Path = HERE) -> dict[str, str]:
    """``{module name: QUEUE}`` of every stage entry point in ``directory``.

    Read from the source (``QUEUE = "<queue>"``), without importing the modules, so a
    consistency test can check a directory of entry points against the stage table.
    """
    found = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["QUEUE"]
                and isinstance(node.value, ast.Constant)
            ):
                found[path.stem] = node.value.value
    return found
