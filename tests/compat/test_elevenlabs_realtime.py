"""The official ElevenLabs Python SDK's realtime client against Dalston's realtime API.

``speech_to_text.realtime.connect`` (elevenlabs 2.78.0) streams jfk.flac at real-time pace
in 100 ms chunks to ``/v1/speech-to-text/realtime``, served by a real realtime worker
(tiny.en) over the Redis relay (the ``realtime`` fixture). The SDK is async only; each test
runs its own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import numpy as np
import pytest

from dalston import audio
from tests.bench.evaluation.metrics import wer
from tests.realtime_helpers import NativeClient, pcm16

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
PATH = "/v1/speech-to-text/realtime"


@pytest.fixture(scope="module")
def jfk_pcm(fixtures_dir) -> bytes:
    return pcm16(audio.decode(fixtures_dir / "jfk.flac").mono)


async def _session(base_url: str, pcm: bytes, manual: bool, **options) -> list[tuple[str, dict]]:
    from elevenlabs import AsyncElevenLabs, AudioFormat, CommitStrategy, RealtimeEvents

    client = AsyncElevenLabs(api_key="test-key", base_url=base_url)
    conn = await client.speech_to_text.realtime.connect(
        {
            "model_id": "scribe_v2_realtime",
            "audio_format": AudioFormat.PCM_16000,
            "sample_rate": 16000,
            "commit_strategy": CommitStrategy.MANUAL if manual else CommitStrategy.VAD,
            "language_code": "en",
            **options,
        }
    )
    events: list[tuple[str, dict]] = []
    for kind in RealtimeEvents:  # registered before any await: session_started comes first
        conn.on(kind, lambda data=None, kind=kind: events.append((kind.value, data)))
    for i in range(0, len(pcm), 3200):
        chunk = base64.b64encode(pcm[i : i + 3200]).decode()
        await conn.send({"audio_base_64": chunk, **({"previous_text": None} if i else {})})
        await asyncio.sleep(0.1)
    if manual:
        await conn.commit()
    else:  # the VAD strategy commits after 1.5 s of silence
        silence = base64.b64encode(b"\x00" * 3200).decode()
        for _ in range(25):
            await conn.send({"audio_base_64": silence})
            await asyncio.sleep(0.1)
    deadline = time.monotonic() + 90
    want = "committed_transcript_with_timestamps" if options.get("include_timestamps") else None
    while time.monotonic() < deadline:
        names = [name for name, _ in events]
        committed = [d for n, d in events if n == "committed_transcript"]
        if committed and wer(JFK, " ".join(d["text"] for d in committed)) <= 0.10:
            if want is None or names.count(want) == len(committed):
                break
        if manual and committed:
            break
        await asyncio.sleep(0.2)
    await conn.close()
    await asyncio.sleep(0.2)
    return events


def run(coro):
    return asyncio.run(coro)


def test_manual_commit_with_timestamps(realtime, jfk_pcm):
    events = run(_session(realtime.main.http, jfk_pcm, manual=True, include_timestamps=True))
    names = [n for n, _ in events]
    assert names[0] == "session_started"
    started = events[0][1]
    assert started["session_id"] and started["config"]["commit_strategy"] == "manual"
    assert "partial_transcript" in names
    committed = [d for n, d in events if n == "committed_transcript"]
    assert len(committed) == 1, names
    assert wer(JFK, committed[0]["text"]) <= 0.10, committed[0]["text"]
    # documented order: committed_transcript, then committed_transcript_with_timestamps
    i = names.index("committed_transcript")
    assert names[i + 1] == "committed_transcript_with_timestamps"
    detailed = events[i + 1][1]
    assert detailed["text"] == committed[0]["text"] and detailed["language_code"] == "en"
    words = [w for w in detailed["words"] if w["type"] == "word"]
    assert " ".join(w["text"] for w in words) == detailed["text"]
    assert all(w["start"] <= w["end"] and w["logprob"] <= 0 for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert {w["type"] for w in detailed["words"]} == {"word", "spacing"}
    assert not [n for n in names if n == "error"]


def test_vad_commits_with_timestamps(realtime, jfk_pcm):
    events = run(_session(realtime.main.http, jfk_pcm, manual=False, include_timestamps=True))
    names = [n for n, _ in events]
    assert names[0] == "session_started" and "partial_transcript" in names
    committed = [d["text"] for n, d in events if n == "committed_transcript"]
    assert len(committed) >= 1
    assert wer(JFK, " ".join(committed)) <= 0.10, committed
    for i, name in enumerate(names):
        if name == "committed_transcript":
            assert names[i + 1] == "committed_transcript_with_timestamps"
            assert events[i + 1][1]["text"] == events[i][1]["text"]


def test_vad_without_timestamps_sends_plain_commits(realtime, jfk_pcm):
    events = run(_session(realtime.main.http, jfk_pcm[: 5 * 32000], manual=False))
    names = [n for n, _ in events]
    assert "committed_transcript" in names
    assert "committed_transcript_with_timestamps" not in names


def raw(realtime, query: str = "") -> NativeClient:
    client = NativeClient(realtime.main.ws + PATH + "?model_id=scribe_v2_realtime" + query)
    assert client.until("session_started", key="message_type")
    return client


def el(client: NativeClient, timeout: float = 30.0) -> dict:
    return client.recv(timeout)


def test_wire_details(realtime, jfk_pcm):
    """Bare commit message, the JS SDK's duplicated audio_format, language detection only,
    keyterms echoed, and the documented error types for bad frames."""
    client = raw(
        realtime,
        "&audio_format=pcm_16000&audio_format=pcm_16000&include_language_detection=true"
        "&keyterms=Kennedy&keyterms=country",
    )
    assert client.messages[0]["config"]["keyterms"] == ["Kennedy", "country"]
    client.ws.send("not json")
    assert el(client)["message_type"] == "input_error"
    client.ws.send(b"\x00\x01")
    assert el(client)["message_type"] == "input_error"
    bad = {"message_type": "input_audio_chunk", "audio_base_64": "@@@", "commit": False}
    client.ws.send(json.dumps(bad))
    assert el(client)["message_type"] == "input_error"
    odd = base64.b64encode(b"\x00\x01\x02").decode()
    client.ws.send(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": odd}))
    assert el(client)["message_type"] == "input_error"
    big = base64.b64encode(b"\x00" * 600_000).decode()
    client.ws.send(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": big}))
    assert el(client)["message_type"] == "chunk_size_exceeded"
    for i in range(0, len(jfk_pcm), 32000):
        chunk = base64.b64encode(jfk_pcm[i : i + 32000]).decode()
        first = {"previous_text": "President Kennedy said"} if i == 0 else {"previous_text": None}
        message = {"message_type": "input_audio_chunk", "audio_base_64": chunk, "commit": False}
        client.ws.send(json.dumps({**message, "sample_rate": 16000, **first}))
    client.ws.send(json.dumps({"message_type": "commit"}))
    committed = client.until("committed_transcript", key="message_type", timeout=120)
    assert wer(JFK, committed["text"]) <= 0.10
    detailed = el(client, 30)
    assert detailed["message_type"] == "committed_transcript_with_timestamps"
    assert detailed["words"] is None and detailed["language_code"] == "en"
    client.close()


def test_ulaw_and_unsupported_formats(realtime, fixtures_dir):
    client = NativeClient(realtime.main.ws + PATH + "?audio_format=pcm_96000")
    error = client.recv()
    assert error["message_type"] == "invalid_request"
    samples = audio.decode(fixtures_dir / "jfk.flac").mono
    import soxr

    from dalston.realtime.audio import MULAW

    narrow = soxr.resample(samples, 16000, 8000)
    order = np.argsort(MULAW)
    idx = np.searchsorted(MULAW[order], np.clip(narrow * 32768, -32768, 32767))
    ulaw = order[np.clip(idx, 0, 255)].astype(np.uint8).tobytes()
    client = raw(realtime, "&audio_format=ulaw_8000")
    for i in range(0, len(ulaw), 8000):
        chunk = base64.b64encode(ulaw[i : i + 8000]).decode()
        client.ws.send(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": chunk}))
    client.ws.send(
        json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "", "commit": True})
    )
    committed = client.until("committed_transcript", key="message_type", timeout=120)
    assert wer(JFK, committed["text"]) <= 0.25, committed["text"]
    client.close()


def test_manual_session_commits_by_itself_after_the_limit(realtime, jfk_pcm):
    api = realtime.api(DALSTON_REALTIME_MANUAL_COMMIT_SECONDS="6")  # 90 s by default
    client = NativeClient(api.ws + PATH + "?commit_strategy=manual")
    client.until("session_started", key="message_type")
    for i in range(0, len(jfk_pcm), 32000):
        chunk = base64.b64encode(jfk_pcm[i : i + 32000]).decode()
        client.ws.send(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": chunk}))
    committed = client.until("committed_transcript", key="message_type", timeout=120)
    assert committed["text"]
    client.close()
