"""The official ``openai`` SDK's realtime client (3.52.0) in transcription mode against Dalston.

``client.realtime.connect(model=..., extra_query={"intent": "transcription"})`` on
``/v1/realtime``, served by a real realtime worker (tiny.en) over the Redis relay.
Audio is jfk.flac at 24 kHz PCM16 (the SDK's ``audio/pcm``), base64 in
``input_audio_buffer.append``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from dalston import audio
from tests.bench.evaluation.metrics import wer
from tests.realtime_helpers import NativeClient, pcm16

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


@pytest.fixture(scope="module")
def jfk_24k(fixtures_dir) -> bytes:
    import soxr

    return pcm16(soxr.resample(audio.decode(fixtures_dir / "jfk.flac").mono, 16000, 24000))


async def _session(base_url: str, pcm: bytes, server_vad: bool) -> list[dict]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="test-key", base_url=base_url + "/v1", max_retries=0)
    events: list[dict] = []
    async with client.realtime.connect(
        model="gpt-4o-transcribe", extra_query={"intent": "transcription"}, max_retries=0
    ) as conn:

        async def receive():
            async for event in conn:
                events.append(event.model_dump())

        reader = asyncio.create_task(receive())
        turn = {"type": "server_vad", "silence_duration_ms": 800} if server_vad else None
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": turn,
                    }
                },
            }
        )
        chunk = 4800  # 100 ms at 24 kHz, 16-bit
        for i in range(0, len(pcm), chunk):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm[i : i + chunk]).decode()
            )
            await asyncio.sleep(0.05)
        if server_vad:
            silence = base64.b64encode(b"\x00" * chunk).decode()
            for _ in range(15):
                await conn.input_audio_buffer.append(audio=silence)
                await asyncio.sleep(0.05)
        else:
            await conn.input_audio_buffer.commit()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = [e for e in events if e["type"].endswith("transcription.completed")]
            if done and wer(JFK, " ".join(e["transcript"] for e in done)) <= 0.15:
                break
            if done and not server_vad:
                break
            await asyncio.sleep(0.2)
        reader.cancel()
    return events


def _check_items(events: list[dict]) -> str:
    """Every item's deltas join to its completed transcript; returns the whole text."""
    completed = [
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert completed
    for item in completed:
        deltas = [
            e["delta"]
            for e in events
            if e["type"] == "conversation.item.input_audio_transcription.delta"
            and e["item_id"] == item["item_id"]
        ]
        assert "".join(deltas) == item["transcript"], (deltas, item["transcript"])
    return " ".join(e["transcript"] for e in completed)


def test_server_vad_transcription(realtime, jfk_24k):
    events = asyncio.run(_session(realtime.main.http, jfk_24k, server_vad=True))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session.created" and events[0]["session"]["type"] == "transcription"
    assert "session.updated" in kinds
    assert events[kinds.index("session.updated")]["session"]["audio"]["input"]["turn_detection"]
    for kind in ("speech_started", "speech_stopped", "committed"):
        assert f"input_audio_buffer.{kind}" in kinds
    # committed comes before the item's completed transcript
    first_completed = kinds.index("conversation.item.input_audio_transcription.completed")
    assert kinds.index("input_audio_buffer.committed") < first_completed
    assert "conversation.item.input_audio_transcription.delta" in kinds
    text = _check_items(events)
    assert wer(JFK, text) <= 0.15, text
    assert "error" not in kinds


def test_manual_commit_transcription(realtime, jfk_24k):
    events = asyncio.run(_session(realtime.main.http, jfk_24k, server_vad=False))
    kinds = [e["type"] for e in events]
    assert kinds.count("input_audio_buffer.committed") == 1
    text = _check_items(events)
    assert wer(JFK, text) <= 0.10, text


def test_bad_events_get_error_events_and_the_session_lives_on(realtime, jfk_24k):
    client = NativeClient(realtime.main.ws + "/v1/realtime?intent=transcription")
    assert client.recv()["type"] == "session.created"
    client.ws.send("{")
    assert client.until("error")["error"]["type"] == "invalid_request_error"
    client.ws.send(b"\x00\x00")
    assert client.until("error")["error"]["type"] == "invalid_request_error"
    client.ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "!!"}))
    assert "base64" in client.until("error")["error"]["message"]
    odd = base64.b64encode(b"\x00").decode()
    client.ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": odd}))
    assert client.until("error")["error"]["type"] == "invalid_request_error"
    client.ws.send(json.dumps({"type": "response.create"}))
    assert client.until("error")["error"]["type"] == "invalid_request_error"
    manual = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
    client.ws.send(json.dumps({"type": "session.update", "session": manual}))
    updated = client.until("session.updated")
    assert updated["session"]["audio"]["input"]["turn_detection"] is None
    for i in range(0, len(jfk_24k), 48000):
        chunk = base64.b64encode(jfk_24k[i : i + 48000]).decode()
        client.ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
    client.ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
    done = client.until("conversation.item.input_audio_transcription.completed", timeout=120)
    assert wer(JFK, done["transcript"]) <= 0.15
    client.close()


def test_other_intents_are_refused(realtime):
    client = NativeClient(realtime.main.ws + "/v1/realtime?intent=conversation")
    assert client.recv()["type"] == "error"
