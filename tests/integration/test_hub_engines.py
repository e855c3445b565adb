"""The hub-only engines end to end: real workers, Redis, PostgreSQL and moto S3.

pyannote, whisperX alignment and whisperx-full cannot load here (their weights are only on
the Hugging Face hub and the libraries are not installed), so a job that asks for one must
end ``failed`` with ``model_not_available`` and a message naming the setting to fix, and
the worker must live on. ``align_engine=whisper`` runs for real; the whisperx-full canvas
(prepare → whisperx_full → merge) runs with the test stand-in engine.
"""

from __future__ import annotations

import pytest

from tests.audio_helpers import load, write_wav

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jfk_wav(fixtures_dir, tmp_path_factory):
    return write_wav(load(fixtures_dir / "jfk.flac"), tmp_path_factory.mktemp("jfk") / "jfk.wav")


def _stage(job: dict, name: str) -> dict:
    (stage,) = [s for s in job["stages"] if s["stage"] == name]
    return stage


def _assert_model_not_available(cluster, job: dict, stage: str, *settings: str) -> None:
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "model_not_available", job["error"]
    for setting in settings:
        assert setting in job["error"]["message"], job["error"]["message"]
    assert _stage(job, stage)["status"] == "failed"
    workers = [h for h in cluster.workers if h.startswith(f"{stage}@")]
    assert workers and all(cluster.alive(h) for h in workers), "the worker survives"


def test_pyannote_without_weights_fails_the_job_naming_its_settings(cluster, jfk_wav):
    job = cluster.wait(
        cluster.submit(
            jfk_wav, model="tiny.en", speaker_detection="diarize", diarize_engine="pyannote"
        )
    )
    _assert_model_not_available(
        cluster, job, "diarize", "DALSTON_PYANNOTE_PIPELINE", "HF_TOKEN", "dalston[gpu]"
    )


def test_whisperx_alignment_without_weights_fails_the_job_naming_its_settings(cluster, jfk_wav):
    job = cluster.wait(cluster.submit(jfk_wav, model="tiny.en", align_engine="whisperx"))
    _assert_model_not_available(
        cluster, job, "align", "DALSTON_WHISPERX_ALIGN_MODEL", "DALSTON_MODEL_DIR", "dalston[gpu]"
    )


def test_whisperx_full_without_weights_fails_the_job_naming_its_settings(cluster, jfk_wav):
    job = cluster.wait(cluster.submit(jfk_wav, model="tiny.en", transcribe_engine="whisperx-full"))
    _assert_model_not_available(
        cluster,
        job,
        "whisperx_full",
        "DALSTON_WHISPERX_ALIGN_MODEL",
        "DALSTON_PYANNOTE_PIPELINE",
        "dalston[gpu]",
    )
    # The one-task canvas: no chunked transcription, alignment or diarization was planned.
    assert {s["stage"] for s in job["stages"]} <= {"prepare", "whisperx_full", "merge"}
    assert _stage(job, "prepare")["status"] == "completed"


def test_align_engine_whisper_keeps_whispers_word_times(cluster, jfk_wav):
    job = cluster.wait(cluster.submit(jfk_wav, model="tiny.en", align_engine="whisper"))
    assert job["status"] == "completed", job
    assert job["options"]["align_engine"] == "whisper"
    assert len(job["words"]) >= 15
    assert {w["timing"] for w in job["words"]} == {"whisper"}
    assert {w["timing"] for s in job["segments"] for w in s["words"]} == {"whisper"}
    # Nothing to re-time: the chunks skip the align task.
    assert "align" not in {s["stage"] for s in job["stages"]}
    assert all(c["start"] <= c["end"] for w in job["words"] for c in w["characters"])


def test_the_default_aligner_still_force_aligns(cluster, jfk_wav):
    """The request's choice is per job: the same align worker still runs pocketsphinx."""
    job = cluster.wait(cluster.submit(jfk_wav, model="tiny.en"))
    assert job["status"] == "completed", job
    assert "forced_alignment" in {w["timing"] for w in job["words"]}


def test_whisperx_full_canvas_runs_prepare_then_one_task_then_merge(cluster, jfk_wav, s3):
    """The whisperx_full worker with the stand-in engine: its output reaches the transcript."""
    normal = [h for h in cluster.workers if h.startswith("whisperx_full@")]
    for hostname in normal:
        cluster.stop(hostname)
    standin = cluster.start_worker(
        "whisperx_full",
        name="whisperx_full-standin",
        env={"DALSTON_ENGINE_PLUGINS": "tests.fakes_whisperx"},
    )
    try:
        cluster.wait_for_workers([standin], timeout=60)
        job = cluster.wait(
            cluster.submit(jfk_wav, transcribe_engine="whisperx-full", speaker_detection="diarize")
        )
        assert job["status"] == "completed", job
        assert [s["stage"] for s in job["stages"]] == ["prepare", "whisperx_full", "merge"]
        assert _stage(job, "whisperx_full")["worker"].startswith("whisperx_full-standin@")
        assert job["progress"] == 100
        assert [(s["text"], s["speaker"]) for s in job["segments"]] == [
            ("first", "SPEAKER_00"),
            ("second", "SPEAKER_01"),
        ]
        assert [s["id"] for s in job["speakers"]] == ["SPEAKER_00", "SPEAKER_01"]
        assert {w["timing"] for w in job["words"]} == {"wav2vec2"}
        stored = s3(f"jobs/{job['id']}/")
        assert f"jobs/{job['id']}/diarize/turns.json" in stored
        assert not any("/transcribe/" in key or "/align/" in key for key in stored)
    finally:
        cluster.stop(standin)
        for hostname in normal:
            cluster.start_worker("whisperx_full", name=hostname.split("@")[0])
        cluster.wait_for_workers(normal, timeout=60)
