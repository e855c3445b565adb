"""whisperx_full: transcribe, align and diarize the whole prepared audio in one task.

For ``transcribe_engine=whisperx-full``. prepare plans a single chunk covering the file for
these jobs, and this stage gives its output in the shapes merge already reads: that chunk's
aligned transcript (its output, on its stage row) and, when the job is diarized, the
speaker turns (``jobs/<id>/diarize/turns.json``). merge then stitches and assigns speakers
exactly as for the chunked pipeline.
"""

from __future__ import annotations

import json
from typing import Callable

from dalston import audio
from dalston.contracts import ChunkTranscript, check_segments
from dalston.engines.base import FullPipeline, PipelineOptions
from dalston.errors import StageError
from dalston.stages.context import Report, StageJob, StageResult
from dalston.stages.diarize import speaker_options
from dalston.stages.prepare import load_manifest
from dalston.stages.transcribe import model_spec
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def run(job: StageJob, store: ArtifactStore, engine: FullPipeline, report: Report) -> StageResult:
    """Transcribe, align and diarize the whole file (the task's entry point)."""
    options = PipelineOptions(
        model=model_spec(job.options, job.settings),
        language=job.options.language,
        diarize=job.options.needs_diarize,
        speakers=speaker_options(job.options),
    )
    transcript, turns = run_pipeline(job.id, store, engine, options, on_progress=report)
    summary = {
        "segments": len(transcript["segments"]),
        "speakers": len({t["speaker"] for t in turns}),
    }
    return StageResult(summary, transcript)


def run_pipeline(
    job_id: str,
    store: ArtifactStore,
    engine: FullPipeline,
    options: PipelineOptions,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[ChunkTranscript, list[dict]]:
    """Run the full-pipeline ``engine`` on the prepared audio; returns (transcript, turns).

    The turns are stored (diarized jobs); the transcript is the caller's to store.
    """
    manifest = load_manifest(job_id, store)
    if len(manifest["chunks"]) != 1:
        raise StageError(
            "internal_error",
            f"whisperx_full expects one chunk covering the file; the plan has "
            f"{len(manifest['chunks'])}",
        )
    (chunk,) = manifest["chunks"]
    samples = audio.read_wav_bytes(store.get_bytes(manifest["audio_key"]))
    result = engine.run(samples, options, on_progress=on_progress)
    check_segments(result["segments"], "whisperx-full")  # malformed output fails here
    transcript = ChunkTranscript(
        index=chunk["index"],
        channel=None,
        language=result["language"],
        language_probability=result["language_probability"],
        segments=result["segments"],
    )
    turns = result["turns"]
    if options.diarize:
        store.put_bytes(keys.turns(job_id), json.dumps(turns).encode(), "application/json")
    return transcript, turns
