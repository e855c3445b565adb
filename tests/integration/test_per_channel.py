"""speaker_detection=per_channel: each channel transcribed on its own, one timeline."""

from __future__ import annotations

import pytest

from dalston import audio
from tests.audio_helpers import (
    JFK_TEXT,
    STEREO_LEFT,
    STEREO_RIGHT,
    load,
    wer,
    write_multichannel_wav,
)

pytestmark = pytest.mark.integration


def _channel_text(job, channel: int) -> str:
    return " ".join(w["text"] for w in job["words"] if w["channel"] == channel)


def test_stereo_channels_are_their_own_speakers(cluster, fixtures_dir):
    job = cluster.wait(
        cluster.submit(fixtures_dir / "stereo_diarization.wav", speaker_detection="per_channel")
    )
    assert job["status"] == "completed", job
    assert [(s["id"], s["channel"], s["label"]) for s in job["speakers"]] == [
        ("SPEAKER_00", 0, "Channel 1"),
        ("SPEAKER_01", 1, "Channel 2"),
    ]
    assert all(w["speaker"] == f"SPEAKER_0{w['channel']}" for w in job["words"])
    assert wer(STEREO_LEFT, _channel_text(job, 0)) <= 0.15, _channel_text(job, 0)
    assert wer(STEREO_RIGHT, _channel_text(job, 1)) <= 0.15, _channel_text(job, 1)
    starts = [s["start"] for s in job["segments"]]
    assert starts == sorted(starts), "channels interleave on one timeline"
    chunks = [s for s in job["stages"] if s["stage"] == "transcribe"]
    assert len(chunks) == 2, "each channel has its own chunks and tasks"


def test_three_channels(cluster, fixtures_dir, tmp_path):
    stereo = audio.decode(fixtures_dir / "stereo_diarization.wav").channels
    jfk = load(fixtures_dir / "jfk.flac")
    path = write_multichannel_wav([stereo[0], stereo[1], jfk], tmp_path / "three.wav")
    job = cluster.wait(cluster.submit(path, speaker_detection="per_channel"))
    assert job["status"] == "completed", job
    assert sorted(s["channel"] for s in job["speakers"]) == [0, 1, 2]
    assert wer(JFK_TEXT, _channel_text(job, 2)) <= 0.10
    assert wer(STEREO_RIGHT, _channel_text(job, 1)) <= 0.15
