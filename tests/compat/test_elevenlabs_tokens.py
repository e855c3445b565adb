"""The official ElevenLabs Python SDK's single-use tokens against a server that wants keys.

``client.tokens.single_use.create("realtime_scribe")`` (with a tenant's ``dsk_`` key) gives a
token; ``speech_to_text.realtime.connect({..., "token": …})`` then opens a session with the
token alone (the SDK sends no key with one), exactly once (api-compat.md RT-5). The realtime
worker and relay are the ``realtime`` fixture's; the keys live in the run's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.keys_helpers import make_key, secure_settings

pytestmark = pytest.mark.integration


async def _open(base_url: str, key: str, token: str) -> list[str]:
    from elevenlabs import AsyncElevenLabs, AudioFormat, CommitStrategy, RealtimeEvents

    client = AsyncElevenLabs(api_key=key, base_url=base_url)
    conn = await client.speech_to_text.realtime.connect(
        {
            "model_id": "scribe_v2_realtime",
            "audio_format": AudioFormat.PCM_16000,
            "sample_rate": 16000,
            "commit_strategy": CommitStrategy.MANUAL,
            "token": token,
        }
    )
    events: list[str] = []
    for kind in RealtimeEvents:
        conn.on(kind, lambda data=None, kind=kind: events.append(kind.value))
    deadline = time.monotonic() + 60
    while "session_started" not in events and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await conn.close()
    await asyncio.sleep(0.2)
    return events


def test_a_single_use_token_opens_one_realtime_session(realtime, postgres_url, tmp_path):
    from elevenlabs import ElevenLabs
    from websockets.exceptions import InvalidStatus

    api = realtime.api(**secure_settings(postgres_url, tmp_path / "store"))
    key = make_key(postgres_url, "sdk-tokens", ["realtime"])
    token = (
        ElevenLabs(api_key=key, base_url=api.http).tokens.single_use.create("realtime_scribe").token
    )
    assert token.startswith("dst_")
    assert "session_started" in asyncio.run(_open(api.http, key, token))
    with pytest.raises(InvalidStatus) as refused:  # used: the handshake is refused
        asyncio.run(_open(api.http, key, token))
    assert refused.value.response.status_code == 401
