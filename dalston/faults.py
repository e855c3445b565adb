"""Fault injection: kill this process at a named point, so a test can prove a crash there
loses nothing.

``DALSTON_FAULT_POINT=prepare.after_dispatch`` (read by ``dalston.config``) makes the first
process that reaches :func:`point("prepare.after_dispatch") <point>` exit at once with
status 137, as a SIGKILL or the OOM killer would: no ``finally``, no acknowledgement, no
bookkeeping. It fires once per data directory (a marker file under
``DALSTON_DATA_DIR/faults``; delete it to arm the point again), so the redelivered task
then runs to its end. Unset (production), :func:`point` is one attribute read.

The points: ``prepare.before_dispatch``, ``prepare.after_dispatch``, ``prepare.after_done``
(``dalston.tasks.prepare``), ``merge.before_complete``, ``merge.after_complete``
(``StageTask.complete``) and ``<stage>.after_begin`` (every stage, once its row is running).
"""

from __future__ import annotations

import os


def point(name: str, settings) -> None:
    """Exit with 137 here if ``settings.fault_point`` (comma-separated) names this point, once."""
    if settings.fault_point is None or name not in settings.fault_point.split(","):
        return
    marker = settings.data_dir / "faults" / name
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(137)
