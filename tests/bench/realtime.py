"""Realtime latency (``make bench-realtime``): what the relay adds, and what a session feels.

1. **Relay overhead**: a frame pushed by the API side, popped by a worker thread, answered
   with an event, popped again (``RedisRelay`` on the local Redis, and ``MemoryRelay``):
   p50/p95 of the round trip over 500 frames, no model.
2. **A session**: jfk.flac streamed at real-time pace in 100 ms frames to a native session
   (the API under werkzeug, a realtime worker thread, tiny.en, the Redis relay if reachable,
   else in-memory): time to first partial after speech starts, end of speech → committed
   (from the moment the endpointing silence was complete), slowest partial decode against
   utterance length. Figures depend on the CPU and its load; the README records a run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REDIS = "redis://127.0.0.1:6379/15"
FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "audio" / "jfk.flac"


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def relay_round_trip(relay, n: int = 500) -> dict:
    from dalston.relay import audio_frame

    sid = f"bench-{time.time_ns()}"

    def echo():
        for _ in range(n):
            frames = []
            while not frames:
                frames = relay.pop_input(sid, timeout=1.0)
            for _ in frames:
                relay.push_event(sid, {"type": "progress", "processed": 0})

    worker = threading.Thread(target=echo, daemon=True)
    worker.start()
    times = []
    frame = audio_frame(b"\x00" * 3200)
    for _ in range(n):
        began = time.perf_counter()
        relay.push_input(sid, frame)
        got = []
        while not got:
            got = relay.pop_events(sid, timeout=1.0)
        times.append((time.perf_counter() - began) * 1000)
    worker.join(5)
    relay.drop_session(sid)
    return {"p50_ms": round(_pct(times, 0.5), 3), "p95_ms": round(_pct(times, 0.95), 3)}


def session_figures(url: str, model_dir: str) -> dict:
    import numpy as np

    from dalston import audio
    from dalston.config import Settings
    from dalston.streaming.worker import RealtimeWorker
    from tests.realtime_helpers import ApiServer, NativeClient, pcm16

    tmp = Path(tempfile.mkdtemp(prefix="dalston-bench-rt-"))
    config = {
        "DALSTON_REALTIME_URL": url,
        "DALSTON_DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}",
        "DALSTON_MODEL_DIR": model_dir,
        "DALSTON_REALTIME_MODEL": "tiny.en",
        "DALSTON_CPU_THREADS": "2",
        "DALSTON_REALTIME_LAG_HARD_SECONDS": "600",
    }
    api = ApiServer(config)
    worker = RealtimeWorker(Settings.from_env(overrides=config), api.relay).start()
    samples = audio.decode(FIXTURE).mono
    data = pcm16(np.concatenate([samples, np.zeros(16000 * 2, dtype="float32")]))
    client = NativeClient(api.ws + "/v1/audio/transcriptions/stream")
    client.recv()
    arrivals = []

    def read():
        while True:
            message = client.recv(120)
            arrivals.append((time.monotonic(), message))
            if message["type"] == "session.end":
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t0 = time.monotonic()
    for i in range(0, len(data), 3200):
        client.ws.send(data[i : i + 3200])
        time.sleep(max(0.0, t0 + (i + 3200) / 32000 - time.monotonic()))
    client.ws.send(json.dumps({"type": "end"}))
    reader.join(120)
    from dalston.streaming.engine import StreamConfig

    min_silence = StreamConfig().min_silence_ms / 1000
    first_partial, commit_latency, speech_start, end_of_speech = [], [], None, 0.0
    for at, message in arrivals:
        if message["type"] == "vad.speech_start":
            speech_start = message["timestamp"]
        elif message["type"] == "transcript.partial" and speech_start is not None:
            first_partial.append(at - (t0 + speech_start))
            speech_start = None
        elif message["type"] == "vad.speech_end":
            end_of_speech = message["timestamp"]
        elif message["type"] == "transcript.final" and message.get("reason") == "vad":
            commit_latency.append(at - (t0 + end_of_speech + min_silence))
    worker.stop()
    api.stop()
    return {
        "time_to_first_partial_s": [round(x, 3) for x in first_partial],
        "end_of_speech_to_commit_s": [round(x, 3) for x in commit_latency],
        "endpointing_silence_s": min_silence,
    }


def main() -> int:
    import os

    from dalston.relay import MemoryRelay, RedisRelay

    results = {"memory_relay": relay_round_trip(MemoryRelay())}
    try:
        redis_relay = RedisRelay(REDIS)
        redis_relay.redis.ping()
        results["redis_relay"] = relay_round_trip(redis_relay)
        url = REDIS
    except Exception as exc:  # no Redis here: the in-memory relay only
        results["redis_relay"] = f"unavailable: {exc}"
        url = "memory://"
    model_dir = os.environ.get("DALSTON_MODEL_DIR", str(Path(".dalston/models").absolute()))
    results["session"] = session_figures(url, model_dir)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
