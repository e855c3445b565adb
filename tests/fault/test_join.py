"""The join that sends merge (``queries.claim_merge``): once, by whichever stage finishes last,
also when the last two finish at the same moment (real PostgreSQL, two transactions)."""

from __future__ import annotations

import threading
import time
import uuid

import sqlalchemy as sa

from dalston.db import queries
from dalston.db.models import Job, StageRun
from dalston.db.session import session_scope


def _job(url: str, rows: dict[tuple[str, int], str], **fields) -> str:
    """A job (running, unless ``fields`` say otherwise) with stage rows of these statuses."""
    job_id = str(uuid.uuid4())
    with session_scope(url) as session:
        session.add(
            Job(id=job_id, **{"status": "running", "model": "tiny.en", "options": {}, **fields})
        )
        session.flush()
        for (stage, part), status in rows.items():
            session.add(StageRun(job_id=job_id, stage=stage, part=part, status=status))
    return job_id


def _finish(url: str, job_id: str, stage: str, part: int, hold: float = 0.0) -> bool:
    """What ``StageTask.finish`` does in its transaction; ``hold`` keeps it open."""
    with session_scope(url) as session:
        assert queries.lock_job(session, job_id) == "running"
        finished = queries.finish_stage(session, job_id, stage, part)
        assert finished is not None
        time.sleep(hold)
        return queries.claim_merge(session, job_id, f"merge-of-{stage}-{part}", finished)


def test_the_last_stage_to_finish_claims_merge_once(postgres_url):
    job_id = _job(
        postgres_url,
        {
            ("prepare", 0): "completed",
            ("transcribe", 0): "running",
            ("transcribe", 1): "running",
            ("align", 0): "pending",
            ("merge", 0): "pending",
        },
    )
    assert not _finish(postgres_url, job_id, "transcribe", 0)  # align 0 and chunk 1 remain
    assert not _finish(postgres_url, job_id, "align", 0)
    assert _finish(postgres_url, job_id, "transcribe", 1)
    assert not _finish(postgres_url, job_id, "transcribe", 1)  # a second delivery: no merge
    with session_scope(postgres_url) as session:
        assert queries.get_stage(session, job_id, "merge").task_id == "merge-of-transcribe-1"


def test_two_stages_finishing_together_send_merge_once(postgres_url):
    """Without the job row's lock both would see the other's row still running (no merge)."""
    for _ in range(3):
        job_id = _job(
            postgres_url,
            {
                ("prepare", 0): "completed",
                ("transcribe", 0): "running",
                ("diarize", 0): "running",
                ("merge", 0): "pending",
            },
        )
        claims = []
        threads = [
            threading.Thread(
                target=lambda s=s: claims.append(_finish(postgres_url, job_id, s, 0, hold=0.3))
            )
            for s in ("transcribe", "diarize")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(claims) == [False, True]


def test_prepare_still_running_holds_merge_back(postgres_url):
    """The first chunk, sent while prepare decodes, may finish first: merge waits for
    prepare, which claims it when it is marked done."""
    job_id = _job(postgres_url, {("prepare", 0): "running", ("transcribe", 0): "running"})
    assert not _finish(postgres_url, job_id, "transcribe", 0)
    with session_scope(postgres_url) as session:  # prepare records the rest, merge included
        session.add(StageRun(job_id=job_id, stage="merge", part=0, status="pending"))
    assert _finish(postgres_url, job_id, "prepare", 0)


def _begin(url: str, job_id: str, stage: str, part: int, task_id: str | None):
    with session_scope(url) as session:
        begun = queries.begin_stage(session, job_id, stage, part, task_id=task_id, worker="w@h")
    if begun is None:
        return None
    with session_scope(url) as session:
        status = queries.get_stage(session, job_id, stage, part).status
    return status, begun.attempts, begun.task_id


def test_begin_marks_the_planned_row_running_and_counts_attempts(postgres_url):
    """The planned row in one statement; a redelivery counts one attempt more and keeps its
    task id when the message names none; a completed row is not begun again; a row the plan
    did not record is created."""
    job_id = _job(postgres_url, {("transcribe", 0): "pending", ("align", 0): "completed"})
    assert _begin(postgres_url, job_id, "transcribe", 0, "t-1") == ("running", 1, "t-1")
    assert _begin(postgres_url, job_id, "transcribe", 0, None) == ("running", 2, "t-1")
    assert _begin(postgres_url, job_id, "align", 0, "t-2") is None
    assert _begin(postgres_url, job_id, "transcribe", 7, "t-3") == ("running", 1, "t-3")
    with session_scope(postgres_url) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.current_stage) == ("running", "transcribe")
        row = queries.get_stage(session, job_id, "transcribe", 0)
        assert (row.worker, row.completed_at, row.progress) == ("w@h", None, 0.0)
        assert queries.get_stage(session, job_id, "align", 0).status == "completed"


def test_begin_starts_a_pending_job_once_and_reads_what_the_stage_needs(postgres_url):
    """The first stage to begin starts the job (``started_at``), later ones leave that time;
    the job's plan, source and length come back; an ended job begins nothing."""
    job_id = _job(
        postgres_url,
        {("prepare", 0): "pending", ("transcribe", 0): "pending"},
        status="pending",
        options={"model": "tiny.en"},
        source_url="s3://bucket/in.wav",
        audio_duration=12.5,
    )
    with session_scope(postgres_url) as session:
        begun = queries.begin_stage(session, job_id, "prepare", 0, task_id="t", worker="w")
        # A begin's commit does not wait for the disk (``NO_WAIT_FOR_DISK``) …
        assert session.scalar(sa.text("SHOW synchronous_commit")) == "off"
    with session_scope(postgres_url) as session:
        # … a finish's does.
        assert queries.lock_job(session, job_id) == "running"
        assert session.scalar(sa.text("SHOW synchronous_commit")) == "on"
    assert (begun.options, begun.source_url, begun.audio_duration) == (
        {"model": "tiny.en"},
        "s3://bucket/in.wav",
        12.5,
    )
    with session_scope(postgres_url) as session:
        started = session.get(Job, job_id).started_at
        assert started is not None and session.get(Job, job_id).status == "running"
    time.sleep(0.01)
    assert _begin(postgres_url, job_id, "transcribe", 0, "t-0") == ("running", 1, "t-0")
    with session_scope(postgres_url) as session:
        job = session.get(Job, job_id)
        assert (job.started_at, job.current_stage) == (started, "transcribe")
        job.status = "cancelled"
    assert _begin(postgres_url, job_id, "transcribe", 1, "t-1") is None
    with session_scope(postgres_url) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.current_stage) == ("cancelled", "transcribe")
        assert queries.get_stage(session, job_id, "transcribe", 1) is None


def test_the_join_counts_the_same_on_sqlite(tmp_path):
    """Embedded mode's database: the count that comes back with the marked row leaves that
    row out, so it is the same whether SQLite's ``RETURNING`` sees the row done or not."""
    from dalston.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'join.db'}"
    upgrade(url)
    job_id = _job(
        url,
        {
            ("prepare", 0): "completed",
            ("transcribe", 0): "running",
            ("transcribe", 1): "running",
            ("merge", 0): "pending",
        },
    )
    assert not _finish(url, job_id, "transcribe", 0)
    assert _finish(url, job_id, "transcribe", 1)
    assert not _finish(url, job_id, "transcribe", 0)
    with session_scope(url) as session:
        assert queries.get_stage(session, job_id, "merge").task_id == "merge-of-transcribe-1"
