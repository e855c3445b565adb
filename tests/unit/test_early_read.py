"""``StageTask.read_early``: a stage's input read beside its begin, never later than in turn.

The per-chunk cost of figure 3 of ``make bench`` counts the chunk's storage read and the
begin's transaction one after the other unless they overlap; these check the overlap, the
fallback when every reader is busy, and that the read's errors reach the stage.
"""

from __future__ import annotations

import threading

import pytest

from dalston import task_base
from dalston.task_base import StageTask


class _Task(StageTask):
    name = "dalston.transcribe"
    store = "the store"


def test_the_read_runs_while_the_caller_goes_on():
    begun = threading.Event()

    def early(job_id, part, store):
        # Done in turn, before the caller's begin, this would wait in vain.
        return begun.wait(10), (job_id, part, store)

    read = _Task().read_early(early, "job", 3)
    begun.set()  # the begin's transaction, while the read waits on it
    assert read() == (True, ("job", 3, "the store"))


def test_a_read_no_reader_started_is_done_by_the_caller(monkeypatch):
    gate = threading.Event()
    busy = [task_base._early_reads().submit(gate.wait) for _ in range(task_base.EARLY_READERS)]
    try:
        read = _Task().read_early(lambda job_id, part, store: threading.current_thread(), "j", 0)
        assert read() is threading.current_thread()  # taken back, read here
    finally:
        gate.set()
        for future in busy:
            future.result(5)


def test_the_reads_error_comes_from_the_callable():
    def early(job_id, part, store):
        raise FileNotFoundError("chunk audio")

    read = _Task().read_early(early, "job", 0)
    with pytest.raises(FileNotFoundError):
        read()
    assert _Task().read_early(None, "job", 0) is None
