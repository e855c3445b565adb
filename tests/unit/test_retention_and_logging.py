"""Retention scheduling and the JSON log lines, as plain functions (no services)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import pytest

from dalston import logging_setup, retention
from dalston.config import Settings
from dalston.db.models import Job

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


class _Session:
    def flush(self):
        pass


@pytest.mark.parametrize(
    "days, default, purge_after, due",
    [
        (0, -1, NOW, True),
        (7, -1, NOW + dt.timedelta(days=7), False),
        (-1, 0, None, False),
        (None, 3, NOW + dt.timedelta(days=3), False),
        (None, -1, None, False),
    ],
)
def test_a_job_that_ends_is_scheduled_by_its_retention(days, default, purge_after, due):
    settings = Settings.from_env({"DALSTON_RETENTION_DAYS": str(default)})
    job = Job(id="j", retention_days=days, completed_at=NOW)
    assert retention.schedule(_Session(), job, settings, now=NOW) is due
    assert job.purge_after == purge_after


def test_json_lines_carry_the_bound_context():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logging_setup.ContextFilter())
    handler.setFormatter(logging_setup.JsonFormatter())
    log = logging.getLogger("dalston.test-json")
    log.addHandler(handler)
    log.propagate = False
    try:
        logging_setup.bind(job_id="job-1", tenant_id="acme", task="dalston.merge")
        log.warning("merged %d chunks", 3)
        logging_setup.clear()
        log.warning("no context")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "merged 3 chunks" and first["level"] == "WARNING"
    assert (first["job_id"], first["tenant_id"], first["task"]) == (
        "job-1",
        "acme",
        "dalston.merge",
    )
    assert "job_id" not in second
