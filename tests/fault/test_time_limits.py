"""Per-stage time limits: the stage table's, overridden by ``DALSTON_STAGE_TIME_LIMITS``; a
stage past its soft limit ends its job ``failed`` with ``stage_time_limit``, and a failure
the database cannot take now is handed to ``dalston.record_failure``."""

from __future__ import annotations

import time
import uuid

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from dalston.config import Settings
from dalston.db import queries
from dalston.db.models import Job
from dalston.db.session import session_scope
from dalston.pipeline.stages import BY_NAME, time_limits
from dalston.task_base import retries_for, retry_delay


def test_the_setting_overrides_the_stage_table():
    settings = Settings.from_env({"DALSTON_STAGE_TIME_LIMITS": "transcribe=60/90, merge=5"})
    assert time_limits(BY_NAME["transcribe"], settings.stage_time_limits) == (60.0, 90.0)
    assert time_limits(BY_NAME["merge"], settings.stage_time_limits) == (5.0, 35.5)
    prepare = BY_NAME["prepare"]
    assert time_limits(prepare, settings.stage_time_limits) == (
        prepare.soft_time_limit,
        prepare.time_limit,
    )


def test_retries_span_the_deadline_with_backoff():
    assert [round(retry_delay(i) / 0.9) for i in range(3)] == [1, 2, 4]  # doubling (±10 %)
    assert retry_delay(30) <= 30.0
    count = retries_for(300)
    assert sum(0.8 * min(30.0, 2.0**i) for i in range(count)) >= 300 > 4
    assert retries_for(0) == 0


@pytest.fixture
def job_id(postgres_url):
    job_id = str(uuid.uuid4())
    with session_scope(postgres_url) as session:
        session.add(Job(id=job_id, status="running", model="tiny.en", options={}))
        queries.ensure_stage(session, job_id, "transcribe", 0)
    return job_id


def test_a_stage_past_its_soft_limit_fails_its_job_with_a_reason(postgres_url, job_id):
    from dalston.tasks import transcribe

    # The reporter (how solo-pool stages see their limit) raises once the limit is past.
    transcribe.__class__.soft_time_limit = property(lambda self: 0.01)
    try:
        report = transcribe.reporter(job_id, 0)
        time.sleep(0.05)
        with pytest.raises(SoftTimeLimitExceeded):
            report(0.5)
        transcribe.on_failure(SoftTimeLimitExceeded(), "task-id", (job_id, 0), {}, None)
    finally:
        del transcribe.__class__.soft_time_limit
    with session_scope(postgres_url) as session:
        job = queries.get_job(session, job_id)
        assert (job.status, job.error_code) == ("failed", "stage_time_limit")
        assert "time limit" in job.error
        assert queries.get_stage(session, job_id, "transcribe", 0).status == "failed"
