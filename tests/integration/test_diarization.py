"""Speaker labels end to end: transcription and diarization at the same time, one job."""

from __future__ import annotations

import pytest
import requests

from tests.audio_helpers import dialogue, write_wav

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-voices")
    samples, truth = dialogue(tmp)
    return write_wav(samples, tmp / "dialogue.wav"), truth


def _right_speaker_share(job, truth) -> float:
    """Share of words whose speaker matches the voice speaking at the word's midpoint."""
    words = job["words"]
    speakers = [s["id"] for s in job["speakers"]]
    mapping = {}
    scored = 0
    right = 0
    for word in words:
        middle = (word["start"] + word["end"]) / 2
        voice = next((v for a, b, v in truth if a - 0.3 <= middle <= b + 0.3), None)
        if voice is None:
            continue
        scored += 1
        mapping.setdefault(voice, word["speaker"])
        right += mapping[voice] == word["speaker"]
    assert scored >= 0.9 * len(words) and len(set(mapping.values())) == len(mapping) == 2, (
        mapping,
        speakers,
    )
    return right / scored


@pytest.mark.parametrize("options", [{}, {"num_speakers": "2"}])
def test_two_voice_dialogue_words_carry_their_speaker(cluster, two_voices, options):
    path, truth = two_voices
    job = cluster.wait(cluster.submit(path, speaker_detection="diarize", **options))
    assert job["status"] == "completed", job
    assert [s["id"] for s in job["speakers"]] == ["SPEAKER_00", "SPEAKER_01"]
    assert _right_speaker_share(job, truth) >= 0.95
    # Segments are split where the speaker changes: no segment mixes two speakers.
    for seg in job["segments"]:
        assert {w["speaker"] for w in seg["words"]} == {seg["speaker"]}
    txt = requests.get(
        cluster.url(f"/v1/audio/transcriptions/{job['id']}/export/txt"), timeout=30
    ).text
    assert txt.startswith("Speaker 1:") and "Speaker 2:" in txt


def test_transcribe_and_diarize_run_at_the_same_time(cluster, two_voices):
    path, _ = two_voices
    job = cluster.wait(cluster.submit(path, speaker_detection="diarize"))
    assert job["status"] == "completed", job
    stages = {s["stage"]: s for s in job["stages"] if s["stage"] in ("transcribe", "diarize")}
    t, d = stages["transcribe"], stages["diarize"]
    assert d["worker"].startswith("diarize") and t["worker"].startswith("transcribe")
    assert t["started_at"] < d["completed_at"] and d["started_at"] < t["completed_at"], stages
    keys_prefix = f"jobs/{job['id']}/diarize/turns.json"
    assert (
        requests.get(cluster.url(f"/v1/audio/transcriptions/{job['id']}"), timeout=30).ok
        and keys_prefix
    )


def test_unknown_diarize_engine_is_refused(cluster, two_voices):
    path, _ = two_voices
    resp = requests.post(
        cluster.url("/v1/audio/transcriptions"),
        files={"file": path.open("rb")},
        data={"speaker_detection": "diarize", "diarize_engine": "magic"},
        timeout=30,
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "unknown_engine"


def test_a_diarization_failure_fails_the_job_with_its_reason(cluster, two_voices):
    """Fault injection: the only diarize worker's engine raises."""
    path, _ = two_voices
    normal = [h for h in cluster.workers if h.startswith("diarize")]
    for hostname in normal:
        cluster.stop(hostname)
    faulty = cluster.start_worker(
        "diarize",
        name="diarize-faulty",
        env={
            "DALSTON_ENGINE_PLUGINS": "tests.fakes",
            "DALSTON_DIARIZE_ENGINE": "fake",
            "DALSTON_FAKE_BEHAVIOUR": "error",
        },
    )
    try:
        cluster.wait_for_workers([faulty], timeout=60)
        job = cluster.wait(cluster.submit(path, speaker_detection="diarize"))
        assert job["status"] == "failed", job
        assert job["error"]["code"] == "internal_error"
        assert (
            "diarize stage failed" in job["error"]["message"]
            and "injected" in job["error"]["message"]
        )
        (stage,) = [s for s in job["stages"] if s["stage"] == "diarize"]
        assert stage["status"] == "failed" and stage["error"]
        assert cluster.alive(faulty), "the worker survives the failure"
    finally:
        cluster.stop(faulty)
        for hostname in normal:
            cluster.start_worker("diarize", name=hostname.split("@")[0])
        cluster.wait_for_workers(normal, timeout=60)
