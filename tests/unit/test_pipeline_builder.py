"""The canvas builder: task names, queues, immutability, shape."""

from celery import chord

from dalston.celery_app import app
from dalston.pipeline import builder


def test_initial_canvas_is_prepare_on_its_queue():
    plan = builder.initial(app, "job-1")
    sig = plan.signature
    assert sig.task == "dalston.prepare" and sig.args == ("job-1",) and sig.immutable
    assert plan.task_ids == {("prepare", 0): sig.options["task_id"]}
    assert app.amqp.router.route(sig.options, sig.task, sig.args)["queue"].name == "prepare"


def test_after_prepare_fans_out_one_transcribe_task_per_chunk():
    plan = builder.after_prepare(app, "job-1", {}, [0, 1, 2, 3])
    canvas = plan.signature
    assert isinstance(canvas, chord)
    header = list(canvas.tasks)
    assert [t.task for t in header] == ["dalston.transcribe"] * 4
    assert [t.args for t in header] == [("job-1", i) for i in range(4)]
    assert all(t.immutable for t in header) and canvas.body.immutable
    assert canvas.body.task == "dalston.merge"
    assert {k for k in plan.task_ids} == {("transcribe", i) for i in range(4)} | {("merge", 0)}
    for t in header:
        assert app.amqp.router.route(t.options, t.task, t.args)["queue"].name == "transcribe"


def test_no_speech_goes_straight_to_merge():
    plan = builder.after_prepare(app, "job-1", {}, [])
    assert plan.signature.task == "dalston.merge"


def test_messages_carry_ids_only():
    import json

    plan = builder.after_prepare(app, "job-1", {"model": "tiny.en"}, list(range(50)))
    assert len(json.dumps(plan.signature)) < 50 * 600, "a signature holds ids and options, never audio"
