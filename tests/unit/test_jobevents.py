"""Job-ended notifications (``dalston.jobevents``): a publish wakes the waiters of that job."""

import threading
import time
import uuid

from dalston import jobevents


def _wakes(hub_, job_id: str, publisher) -> bool:
    """Whether a waiter watching ``job_id`` is woken by ``publisher()`` (30 s bound)."""
    with hub_.watch(job_id) as ended:
        threading.Timer(0.2, publisher).start()
        return ended.wait(30)


def test_a_local_publish_wakes_only_that_jobs_waiters():
    hub_ = jobevents.hub("memory://")
    assert hub_ is jobevents.hub("memory://")
    assert _wakes(hub_, "a", lambda: hub_.publish("a"))
    with hub_.watch("b") as other:
        hub_.publish("a")
        assert not other.is_set()
    assert hub_._waiters == {}  # nothing left registered


def test_a_publish_through_redis_reaches_another_hub(redis_url):
    """A worker's hub publishes; the API process's hub (here another instance) wakes."""
    api, worker = jobevents.RedisHub(redis_url), jobevents.RedisHub(redis_url)
    job_id = uuid.uuid4().hex
    with api.watch("warm-up"):
        pass  # starts the listener
    # The listener subscribes asynchronously: publish until it has (each publish is cheap).
    stop = threading.Event()

    def keep_publishing():
        while not stop.is_set():
            worker.publish(job_id)
            stop.wait(0.1)

    try:
        assert _wakes(api, job_id, lambda: threading.Thread(target=keep_publishing).start())
    finally:
        stop.set()


def test_publish_survives_redis_being_down():
    hub_ = jobevents.RedisHub("redis://127.0.0.1:1/0")
    hub_.publish("x")  # logged, not raised: waiters fall back to reading the job


def _until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_waiters_poll_rarely_only_while_the_subscription_has_held(tmp_path):
    """Confirmed subscription: a waiter may sleep SAFETY_POLL; once Redis went away (its
    notifications may be lost), FALLBACK_POLL, even after the subscription is back."""
    from tests.servers import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    try:
        hub_ = jobevents.RedisHub(server.url)
        with hub_.watch("warm-up"):
            pass  # starts the listener
        assert _until(lambda: hub_.epoch() is not None)
        since = hub_.epoch()
        assert hub_.poll_interval(since) == jobevents.SAFETY_POLL
        assert hub_.poll_interval(None) == jobevents.FALLBACK_POLL
        server.kill()
        assert _until(lambda: hub_.epoch() is None)
        assert hub_.poll_interval(since) == jobevents.FALLBACK_POLL
        server.start()  # same port: the listener resubscribes, a new epoch
        assert _until(lambda: hub_.epoch() is not None, timeout=60)
        assert hub_.epoch() != since
        assert hub_.poll_interval(since) == jobevents.FALLBACK_POLL
    finally:
        server.kill()
