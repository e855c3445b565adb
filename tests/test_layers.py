"""The layering contract (setup.cfg ``[importlinter]``) holds, and fails when it is broken.

``lint-imports`` (import-linter) checks that layers point one way: composition → API
families → their shared edge → tasks → pipeline → stages → engines → base modules; that
stages are given their engine rather than importing one; and that the API runs no worker
code. The second test breaks the contract in a copy of the package to show it can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [str(Path(sys.executable).with_name("lint-imports"))]


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LINT, "--config", str(root / "setup.cfg"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_point_one_way():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(
        ROOT / "dalston", root / "dalston", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "setup.cfg", root / "setup.cfg")
    return root


def test_a_stage_importing_an_engine_or_an_engine_a_stage_breaks_it(tmp_path):
    root = _copy(tmp_path)
    stage = root / "dalston" / "stages" / "align.py"
    stage.write_text(stage.read_text() + "\nfrom dalston.engines import forced_align  # noqa\n")
    result = lint(root)
    assert result.returncode != 0, result.stdout
    assert "dalston.stages.align -> dalston.engines.forced_align" in result.stdout, result.stdout

    root = _copy(tmp_path / "second")
    engine = root / "dalston" / "engines" / "dvector.py"
    engine.write_text(engine.read_text() + "\nfrom dalston.stages import prepare  # noqa\n")
    result = lint(root)
    assert result.returncode != 0, result.stdout
    assert "dalston.engines.dvector -> dalston.stages.prepare" in result.stdout, result.stdout
