"""The reconciler's rules (``dalston.pipeline.reconcile.plan_job``), over stage records alone."""

from __future__ import annotations

import datetime as dt
import json

from dalston.pipeline.reconcile import Row, _message_key, plan_job

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
OLD = NOW - dt.timedelta(minutes=5)
JOB = "job-1"


def row(stage, part=0, status="pending", started=None, completed=None):
    return Row(stage, part, status, OLD, started, completed)


def done(stage, part=0, at=OLD):
    return row(stage, part, "completed", at, at)


def plan(rows, snapshot=frozenset(), grace=60.0):
    return plan_job(JOB, OLD, rows, snapshot, NOW, grace)


def test_a_queued_prepare_is_left_alone_and_a_lost_one_resent():
    rows = [row("prepare")]
    assert plan(rows, snapshot=frozenset({("prepare", JOB, 0)})) is None
    assert plan(rows).kind == "prepare"


def test_nothing_is_resent_within_the_grace():
    recent = NOW - dt.timedelta(seconds=10)
    assert plan([row("prepare", status="running", started=recent)]) is None


def test_without_a_broker_snapshot_only_deadlines_count():
    assert plan([row("prepare", status="running", started=OLD)], snapshot=None) is None
    ancient = NOW - dt.timedelta(days=1)
    assert plan([row("prepare", status="running", started=ancient)], snapshot=None).kind == (
        "prepare"
    )


def test_lost_parts_are_resent_as_a_group_without_merge():
    rows = [
        done("prepare"),
        done("transcribe", 0),
        row("transcribe", 1, "running", started=OLD),
        row("align", 0),
        row("align", 1),
        row("diarize"),
        row("merge"),
    ]
    snapshot = frozenset({("diarize", JOB, 0)})
    resend = plan(rows, snapshot)
    assert resend.kind == "parts"  # the last of them to finish sends merge (the join)
    # align 1 is not ready (its transcription is not done): it is resent chained to
    # transcribe 1, so it runs once its transcription is done
    assert resend.parts == (("align", 0), ("align", 1), ("transcribe", 1))
    # Sent again as the builder sends them: each chunk at its own priority, no result kept.
    from dalston.celery_app import app
    from dalston.pipeline.reconcile import signature_for

    canvas, ids = signature_for(app, resend)
    sent = {}
    for sig in canvas.tasks:
        for task in getattr(sig, "tasks", [sig]):
            sent[(task.task, task.args)] = task.options
    assert set(ids) == {("align", 0), ("align", 1), ("transcribe", 1)}
    assert sent[("dalston.transcribe", (JOB, 1))]["priority"] == 1
    assert sent[("dalston.align", (JOB, 0))]["priority"] == 0
    assert all(options["ignore_result"] for options in sent.values())


def test_a_lost_merge_is_resent_once_the_rest_is_done():
    rows = [done("prepare"), done("transcribe", 0), done("diarize"), row("merge")]
    assert plan(rows).kind == "merge"
    assert plan(rows, snapshot=frozenset({("merge", JOB, 0)})) is None


def test_merge_waits_while_the_header_is_queued():
    rows = [done("prepare"), row("transcribe", 0), row("merge")]
    assert plan(rows, snapshot=frozenset({("transcribe", JOB, 0)})) is None


def test_whole_file_jobs_resend_their_stage_then_merge():
    assert plan([done("prepare"), row("whisperx_full"), row("merge")]).kind == "whisperx"
    assert plan([done("prepare"), done("whisperx_full"), row("merge")]).kind == "merge"


def test_broker_messages_are_read_by_task_job_and_part():
    import base64

    body = base64.b64encode(json.dumps([["j", 3], {}, {}]).encode()).decode()
    message = {
        "headers": {"task": "dalston.transcribe"},
        "body": body,
        "properties": {"body_encoding": "base64"},
    }
    assert _message_key(json.dumps(message)) == ("transcribe", "j", 3)
    assert _message_key(json.dumps([message, "dalston", "transcribe"])) == ("transcribe", "j", 3)
    assert _message_key(b"not json") is None


def test_two_passes_never_race(postgres_url):
    """A pass that finds the advisory lock held sends nothing (and reads no broker)."""
    from dalston.celery_app import app
    from dalston.db.session import session_scope
    from dalston.pipeline import reconcile

    with session_scope(postgres_url) as holder, session_scope(postgres_url) as other:
        assert reconcile._locked(holder)
        assert not reconcile._locked(other)
        assert reconcile.run(app, other, grace=0.0, snapshot="not read") == []
