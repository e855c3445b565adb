"""Native realtime end to end, and the controls: real API, real Redis relay, real workers.

The ``realtime`` fixture runs ``python -m workers.realtime`` (tiny.en, two slots) and the
API; tests that need other limits start another API on the same relay. Nothing is faked:
the clients are ``simple_websocket`` over loopback.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from simple_websocket import ConnectionClosed

from dalston import audio
from tests.bench.evaluation.metrics import wer
from tests.realtime_helpers import NativeClient, pcm16, wait_for_workers

pytestmark = pytest.mark.integration

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
STREAM = "/v1/audio/transcriptions/stream"


@pytest.fixture(scope="module")
def jfk(fixtures_dir) -> np.ndarray:
    return audio.decode(fixtures_dir / "jfk.flac").mono


def close_code(client: NativeClient, timeout: float = 60.0) -> int:
    """Read until the server closes; its close code."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.recv(timeout=max(deadline - time.monotonic(), 0.1))
    except ConnectionClosed as closed:
        return closed.reason
    raise TimeoutError("the server did not close")


def finish(client: NativeClient) -> dict:
    client.ws.send(json.dumps({"type": "end"}))
    return client.until("session.end", timeout=120)


def test_native_session_at_real_time_pace(realtime, jfk):
    client = NativeClient(realtime.main.ws + STREAM + "?word_timestamps=true")
    begin = client.recv()
    assert begin["type"] == "session.begin" and begin["config"]["encoding"] == "pcm_s16le"
    client.stream(pcm16(jfk), 3200, pace=0.1)
    end = finish(client)
    kinds = [m["type"] for m in client.messages]
    assert {"vad.speech_start", "vad.speech_end", "transcript.partial"} <= set(kinds)
    finals = [m for m in client.messages if m["type"] == "transcript.final"]
    assert finals and all(f["words"] and f["language"] == "en" for f in finals)
    assert all(0 < f["confidence"] <= 1 for f in finals)
    for final in finals:
        assert [w["start"] <= w["end"] for w in final["words"]]
    assert wer(JFK, end["transcript"]) <= 0.10, end["transcript"]
    assert end["total_audio_seconds"] == pytest.approx(11.0, abs=0.05)
    assert [s["text"] for s in end["segments"]] == [f["text"] for f in finals]
    # The stable prefix of a partial is never sent differently.
    stable = ""
    for message in client.messages:
        if message["type"] == "transcript.partial":
            assert message["stable_text"].startswith(stable)
            stable = message["stable_text"]
        elif message["type"] == "transcript.final":
            assert message["text"].startswith(stable)
            stable = ""


@pytest.mark.parametrize(
    "encoding,rate", [("pcm_f32le", 44100), ("mulaw", 8000), ("alaw", 8000), ("pcm_s16le", 48000)]
)
def test_native_encodings_and_rates_are_resampled(realtime, fixtures_dir, encoding, rate):
    import soxr

    from dalston.realtime import audio as rt_audio

    samples = soxr.resample(audio.decode(fixtures_dir / "jfk.flac").mono, 16000, rate)
    if encoding == "pcm_f32le":
        data = samples.astype("<f4").tobytes()
    elif encoding == "pcm_s16le":
        data = pcm16(samples)
    else:
        table = rt_audio.MULAW if encoding == "mulaw" else rt_audio.ALAW
        # encode by nearest table entry (G.711 is a lookup both ways)
        order = np.argsort(table)
        idx = np.searchsorted(table[order], np.clip(samples * 32768, -32768, 32767))
        data = order[np.clip(idx, 0, 255)].astype(np.uint8).tobytes()
    client = NativeClient(
        realtime.main.ws + STREAM + f"?encoding={encoding}&sample_rate={rate}&enable_vad=false"
    )
    assert client.recv()["config"]["sample_rate"] == rate
    client.stream(data, rate // 5 * rt_audio.ENCODINGS[encoding])
    end = finish(client)
    # 8 kHz G.711 is telephone band: tiny.en loses a short phrase there ("ask not").
    assert wer(JFK, end["transcript"]) <= (0.35 if rate == 8000 else 0.15), (encoding, end)


def test_bad_frames_get_errors_and_the_session_lives_on(realtime, jfk):
    limit = int(realtime.main.app.extensions["dalston"].settings.realtime_max_frame_bytes)
    client = NativeClient(realtime.main.ws + STREAM + "?enable_vad=false")
    client.recv()
    client.ws.send("{not json")
    assert client.until("error")["code"] == "invalid_message"
    client.ws.send(json.dumps({"type": "dance"}))
    assert client.until("error")["code"] == "invalid_message"
    client.ws.send(b"\x01\x02\x03")
    error = client.until("error")
    assert error["code"] == "invalid_audio" and "whole number" in error["message"]
    client.ws.send(b"\x00" * (limit + 2))
    assert client.until("error")["code"] == "frame_too_large"
    client.stream(pcm16(jfk), 32000)
    client.ws.send(json.dumps({"type": "flush"}))
    final = client.until("transcript.final", timeout=120)
    assert wer(JFK, final["text"]) <= 0.10
    assert finish(client)["transcript"] == final["text"]


def test_unsupported_format_closes_with_4400(realtime):
    client = NativeClient(realtime.main.ws + STREAM + "?encoding=opus")
    error = client.recv()
    assert error["type"] == "error" and error["code"] == "invalid_request"
    assert close_code(client) == 4400
    client = NativeClient(realtime.main.ws + STREAM + "?sample_rate=96000")
    assert client.recv()["code"] == "invalid_request"
    assert close_code(client) == 4400


def test_no_capacity_closes_with_4503_and_retry_advice(realtime):
    holders = [NativeClient(realtime.main.ws + STREAM) for _ in range(2)]
    for holder in holders:
        assert holder.recv()["type"] == "session.begin"
    refused = NativeClient(realtime.main.ws + STREAM)
    error = refused.recv()
    assert error["code"] == "no_capacity" and error["recoverable"] is True
    assert error["retry_after_ms"] > 0
    assert close_code(refused) == 4503
    for holder in holders:
        finish(holder)
    wait_for_free_slots(realtime.main.relay, 2)
    again = NativeClient(realtime.main.ws + STREAM)
    assert again.recv()["type"] == "session.begin"
    finish(again)


def test_global_session_limit_closes_with_4429(realtime):
    api = realtime.api(DALSTON_REALTIME_SESSION_LIMIT="1")
    first = NativeClient(api.ws + STREAM)
    assert first.recv()["type"] == "session.begin"
    second = NativeClient(api.ws + STREAM)
    assert second.recv()["code"] == "session_limit"
    assert close_code(second) == 4429
    finish(first)


def test_idle_client_is_timed_out_with_4408(realtime):
    api = realtime.api(DALSTON_REALTIME_IDLE_TIMEOUT="1.5")
    client = NativeClient(api.ws + STREAM)
    client.recv()
    error = client.until("error", timeout=30)
    assert error["code"] == "session_timeout"
    assert close_code(client) == 4408
    wait_for_free_slots(api.relay, 2)


def test_lag_warns_then_closes_with_4010(realtime, jfk):
    api = realtime.api(
        DALSTON_REALTIME_LAG_WARNING_SECONDS="1", DALSTON_REALTIME_LAG_HARD_SECONDS="40"
    )
    client = NativeClient(api.ws + STREAM)
    client.recv()
    long = pcm16(np.concatenate([jfk] * 6))  # 66 s of speech at once
    client.stream(long[: 5 * 32000], 32000)
    warning = client.until("warning", timeout=60)
    assert warning["code"] == "processing_lag"
    assert warning["lag_seconds"] >= 1 and warning["hard_threshold_seconds"] == 40
    client.stream(long[5 * 32000 :], 32000)
    error = client.until("error", timeout=60)
    assert error["code"] == "lag_exceeded"
    assert close_code(client) == 4010
    wait_for_free_slots(api.relay, 2, timeout=120)


def test_handshake_without_the_api_key_is_refused(realtime):
    import simple_websocket

    api = realtime.api(DALSTON_API_KEY="rt-secret")
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        simple_websocket.Client.connect(api.ws + STREAM)
    assert refused.value.status_code == 401
    client = NativeClient(api.ws + STREAM, headers={"Authorization": "Bearer rt-secret"})
    assert client.recv()["type"] == "session.begin"
    finish(client)


def test_status_reports_workers_and_capacity(realtime):
    import requests

    status = requests.get(realtime.main.http + "/v1/realtime/status", timeout=10).json()
    assert status["status"] == "ready" and status["worker_count"] >= 1
    assert status["total_capacity"] >= 2 and status["workers"][0]["model"] == "tiny.en"


def _worker_of(relay, session_id: str) -> str:
    from dalston.relay import PREFIX

    for worker in relay.status()["workers"]:
        if relay.redis.sismember(PREFIX + f"w:{worker['id']}:sessions", session_id):
            return worker["id"]
    raise AssertionError(f"session {session_id} is on no worker")


def test_sessions_through_either_api_land_on_either_worker(realtime, jfk):
    """Two API processes' worth of apps and two worker processes share one pool of slots."""
    second = realtime.start_worker()
    other = realtime.api()
    try:
        wait_for_workers(realtime.main.relay, 2)
        wait_for_free_slots(realtime.main.relay, 4)
        workers = {w["id"] for w in realtime.main.relay.status()["workers"]}
        for api in (realtime.main, other):
            clients = [NativeClient(api.ws + STREAM) for _ in range(2)]
            ids = [c.recv()["session_id"] for c in clients]
            assert {_worker_of(api.relay, sid) for sid in ids} == workers
            for client in clients:
                client.stream(pcm16(jfk[: 4 * 16000]), 3200)
            for client in clients:
                assert "americans" in finish(client)["transcript"].lower()
            wait_for_free_slots(api.relay, 4)
        # All four slots taken through both APIs at once: a fifth session has none.
        clients = [NativeClient(api.ws + STREAM) for api in (realtime.main, other) * 2]
        assert all(c.recv()["type"] == "session.begin" for c in clients)
        refused = NativeClient(other.ws + STREAM)
        assert refused.recv()["code"] == "no_capacity" and close_code(refused) == 4503
        for client in clients:
            finish(client)
    finally:
        second.stop()
        other.stop()
        wait_for_capacity(realtime.main.relay, total=2)


def test_a_dead_worker_ends_its_sessions_with_4502_and_frees_its_slots(realtime, jfk):
    # A second worker with more free slots: the next session lands on it.
    doomed = realtime.start_worker(DALSTON_REALTIME_CAPACITY="4")
    wait_for_workers(realtime.main.relay, 2)
    client = NativeClient(realtime.main.ws + STREAM)
    client.recv()
    client.stream(pcm16(jfk[: 3 * 16000]), 3200)
    before = realtime.main.relay.status()
    assert any(w["capacity"] == 4 and w["active_sessions"] == 1 for w in before["workers"])
    doomed.kill()
    killed_at = time.monotonic()
    error = client.until("error", timeout=30)
    assert error["code"] == "worker_lost" and error["recoverable"] is True
    assert close_code(client) == 4502
    status = wait_for_capacity(realtime.main.relay, total=2)
    assert status["worker_count"] == 1
    assert time.monotonic() - killed_at < 15
    again = NativeClient(realtime.main.ws + STREAM)
    assert again.recv()["type"] == "session.begin"
    finish(again)


def wait_for_free_slots(relay, free: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = relay.status()
        if status["available_capacity"] >= free:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"not {free} free slots: {relay.status()}")


def wait_for_capacity(relay, total: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = relay.status()
        if status["total_capacity"] == total:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"total capacity is not {total}: {relay.status()}")
