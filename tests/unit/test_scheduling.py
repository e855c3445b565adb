"""Scheduling: chunk priorities in the canvas, and embedded mode's priority broker."""

from kombu import Connection, Exchange, Queue

from dalston.celery_app import app
from dalston.options import JobOptions
from dalston.pipeline import builder


def test_chunk_i_goes_at_priority_i_capped_and_the_rest_at_zero():
    options = JobOptions(
        model="tiny.en", timestamps_granularity="word", speaker_detection="diarize"
    )
    canvas = builder.after_prepare(app, "job", options, list(range(12))).signature
    *links, diarize = canvas.tasks
    for i, link in enumerate(links):
        assert [t.options["priority"] for t in link.tasks] == [min(i, 9)] * 2
    assert diarize.options["priority"] == 0
    assert builder.merge(app, "job", "merge-id").options["priority"] == 0
    assert builder.initial(app, "job").signature.options["priority"] == 0


def test_the_memory_broker_serves_the_most_urgent_message_of_all_its_queues():
    exchange = Exchange("t", type="direct")
    a, b = Queue("sched-a", exchange, "sched-a"), Queue("sched-b", exchange, "sched-b")
    got = []
    with Connection("memory://", transport="dalston.membroker:Transport") as conn:
        producer = conn.Producer()
        for queue, body, priority in [
            (a, "a-late-chunk", 5),
            (a, "a-second", 1),
            (b, "b-first", 0),
            (a, "a-first", 0),
            (b, "b-second", 1),
        ]:
            producer.publish(
                body, exchange=exchange, routing_key=queue.name, priority=priority, declare=[queue]
            )
        with conn.Consumer(
            [a, b], callbacks=[lambda body, msg: (got.append(body), msg.ack())], prefetch_count=1
        ):
            for _ in range(5):
                conn.drain_events(timeout=2)
    assert got == ["b-first", "a-first", "a-second", "b-second", "a-late-chunk"]
