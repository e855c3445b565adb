"""The canvas builder: task names, queues, immutability, shape."""

from celery import group

from dalston.celery_app import app
from dalston.options import JobOptions
from dalston.pipeline import builder


def opts(**fields) -> JobOptions:
    return JobOptions(**{"model": "tiny.en", **fields})


def test_initial_canvas_is_prepare_on_its_queue():
    plan = builder.initial(app, "job-1")
    sig = plan.signature
    assert sig.task == "dalston.prepare" and sig.args == ("job-1",) and sig.immutable
    assert plan.task_ids == {("prepare", 0): sig.options["task_id"]}
    assert app.amqp.router.route(sig.options, sig.task, sig.args)["queue"].name == "prepare"


def test_word_timestamps_chain_an_align_task_after_each_chunk():
    plan = builder.after_prepare(app, "job-1", opts(timestamps_granularity="word"), [0, 1, 2])
    canvas = plan.signature
    assert isinstance(canvas, group) and plan.merge
    for i, link in enumerate(canvas.tasks):
        assert [t.task for t in link.tasks] == ["dalston.transcribe", "dalston.align"]
        assert [t.args for t in link.tasks] == [("job-1", i), ("job-1", i)]
        assert (
            app.amqp.router.route(link.tasks[1].options, "dalston.align", ())["queue"].name
            == "align"
        )
    assert set(plan.task_ids) == {(s, i) for s in ("transcribe", "align") for i in range(3)}


def test_diarize_joins_the_header():
    plan = builder.after_prepare(
        app, "job-1", opts(timestamps_granularity="segment", speaker_detection="diarize"), [0, 1]
    )
    assert [t.task for t in plan.signature.tasks] == ["dalston.transcribe"] * 2 + [
        "dalston.diarize"
    ]


def test_after_prepare_fans_out_one_transcribe_task_per_chunk():
    plan = builder.after_prepare(app, "job-1", opts(timestamps_granularity="segment"), [0, 1, 2, 3])
    canvas = plan.signature
    assert isinstance(canvas, group)
    header = list(canvas.tasks)
    assert [t.task for t in header] == ["dalston.transcribe"] * 4
    assert [t.args for t in header] == [("job-1", i) for i in range(4)]
    assert all(t.immutable for t in header)
    # merge is in no canvas: the join sends it, with the task id it gives its row
    assert {k for k in plan.task_ids} == {("transcribe", i) for i in range(4)} and plan.merge
    merge = builder.merge(app, "job-1", "merge-id")
    assert (merge.task, merge.args, merge.options["task_id"]) == (
        "dalston.merge",
        ("job-1",),
        "merge-id",
    )
    assert merge.immutable and merge.options["priority"] == 0
    # Nobody waits on a stage's result: sending one subscribes to nothing.
    assert merge.options["ignore_result"] and all(t.options["ignore_result"] for t in header)
    for t in header:
        assert app.amqp.router.route(t.options, t.task, t.args)["queue"].name == "transcribe"


def test_no_speech_goes_straight_to_merge():
    plan = builder.after_prepare(app, "job-1", opts(), [])
    assert plan.signature is None and plan.merge and plan.task_ids == {}


def test_a_chunk_sent_early_is_not_sent_again():
    options = opts(timestamps_granularity="word")
    first = builder.first_chunk(app, "job-1", options, 0)
    assert [t.task for t in first.signature.tasks] == ["dalston.transcribe", "dalston.align"]
    assert set(first.task_ids) == {("transcribe", 0), ("align", 0)} and not first.merge
    assert first.signature.tasks[0].options["priority"] == 0
    rest = builder.after_prepare(app, "job-1", options, [0, 1, 2], frozenset({0}))
    assert [link.tasks[0].args for link in rest.signature.tasks] == [("job-1", 1), ("job-1", 2)]
    assert rest.merge
    assert builder.after_prepare(app, "job-1", opts(), [0], frozenset({0})).signature is None


def test_messages_carry_ids_only():
    import json

    plan = builder.after_prepare(
        app, "job-1", opts(model="tiny.en", speaker_detection="diarize"), list(range(50))
    )
    assert (
        len(json.dumps(plan.signature)) < 50 * 600
    ), "a signature holds ids and options, never audio"


def test_whisperx_full_is_prepare_then_one_task_then_merge():
    options = opts(transcribe_engine="whisperx-full", speaker_detection="diarize")
    plan = builder.after_prepare(app, "job-1", options, [0])
    first = plan.signature
    assert first.task == "dalston.whisperx_full" and plan.merge
    assert first.args == ("job-1",) and first.immutable
    assert app.amqp.router.route(first.options, first.task, ())["queue"].name == "whisperx_full"
    assert set(plan.task_ids) == {("whisperx_full", 0)}
    assert plan.task_ids[("whisperx_full", 0)] == first.options["task_id"]
    assert [s.value for s in builder.planned_stages(options)] == [
        "prepare",
        "whisperx_full",
        "merge",
    ]
    assert options.replace(timestamps_granularity="segment").merges_aligned


def test_whisperx_full_with_no_speech_goes_straight_to_merge():
    plan = builder.after_prepare(app, "job-1", opts(transcribe_engine="whisperx-full"), [])
    assert plan.signature is None and plan.merge


def test_every_align_engine_but_whisper_chains_align_after_transcribe():
    """align_engine is read by the align task; every choice that may re-time words chains
    align after transcribe. ``whisper`` keeps the transcriber's times: no align task."""
    shapes = []
    for engine in (None, "pocketsphinx", "whisperx"):
        plan = builder.after_prepare(app, "job-1", opts(align_engine=engine), [0, 1])
        shapes.append([[t.task for t in link.tasks] for link in plan.signature.tasks])
        assert builder.planned_stages(opts(align_engine=engine))[2].value == "align"
    assert all(shape == [["dalston.transcribe", "dalston.align"]] * 2 for shape in shapes)
    plan = builder.after_prepare(app, "job-1", opts(align_engine="whisper"), [0, 1])
    assert [t.task for t in plan.signature.tasks] == ["dalston.transcribe"] * 2
    assert "align" not in [s.value for s in builder.planned_stages(opts(align_engine="whisper"))]
    assert not opts(align_engine="whisper").merges_aligned
