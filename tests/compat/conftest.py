"""SDK compatibility fixtures: the official clients pointed at the test cluster's API.

The cluster (``tests/conftest.py``) runs real workers and real models; these tests drive it
with the pinned official SDKs (``elevenlabs``, ``openai``, and ``@elevenlabs/elevenlabs-js``
through ``tests/compat/js``), and validate every raw JSON body with the SDK's own models.
"""

from __future__ import annotations

import pytest

from tests.audio_helpers import dialogue, write_wav


@pytest.fixture(scope="session")
def jfk(fixtures_dir):
    return fixtures_dir / "jfk.flac"


@pytest.fixture(scope="session")
def two_voices(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compat-two-voices")
    samples, truth = dialogue(tmp)
    return write_wav(samples, tmp / "dialogue.wav"), truth


@pytest.fixture(scope="session")
def eleven(cluster):
    from elevenlabs import ElevenLabs

    return ElevenLabs(api_key="test-key", base_url=cluster.base_url, timeout=300)


@pytest.fixture(scope="session")
def openai_client(cluster):
    from openai import OpenAI

    return OpenAI(
        api_key="test-key",
        base_url=cluster.base_url + "/v1",
        max_retries=0,
        _strict_response_validation=True,
    )
