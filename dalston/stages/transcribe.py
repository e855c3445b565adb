"""transcribe: one chunk of prepared audio → that chunk's transcript on the job's timeline.

The transcript is the stage's output (a ``StageResult``): the task writes it on the chunk's
stage row as it marks it done, where align and merge read it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from dalston import audio
from dalston.config import Settings
from dalston.contracts import ChunkTranscript, check_segments
from dalston.engines.base import ModelSpec, TranscribeOptions, Transcriber
from dalston.options import JobOptions
from dalston.stages.context import Report, StageJob, StageResult
from dalston.stages.prepare import ChunkAudio, read_chunk
from dalston.storage.base import ArtifactStore

log = logging.getLogger(__name__)


def model_spec(options: JobOptions, settings: Settings) -> ModelSpec:
    """The job's model, run where and how this worker's settings say."""
    return ModelSpec(
        model=options.model,
        model_dir=settings.model_dir,
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        batch_size=settings.batch_size,
    )


def engine_options(options: JobOptions, settings: Settings) -> TranscribeOptions:
    """What the transcriber is asked for, from the job's plan and the worker's settings."""
    return TranscribeOptions(
        model=model_spec(options, settings),
        language=options.language,
        task=options.task,
        prompt=options.prompt,
        vocabulary=options.vocabulary,
        temperature=options.temperature,
        beam_size=options.beam_size,
        word_timestamps=options.word_timestamps,
        seed=options.seed,
        tag_audio_events=options.tag_audio_events,
    )


#: What the stage reads that does not depend on its begin: its chunk's plan and audio.
#: ``StageTask.run_stage`` reads it while it marks the stage begun, and hands it to
#: :func:`run` as ``read``.
early = read_chunk


def run(
    job: StageJob,
    store: ArtifactStore,
    engine: Transcriber,
    report: Report,
    *,
    read: Callable[[], ChunkAudio] | None = None,
) -> StageResult:
    """Transcribe chunk ``job.part`` (the task's entry point); ``read``: the result of
    :func:`early`, read while the stage began (else it is read now)."""
    result = transcribe_chunk(
        job.id,
        job.part,
        store,
        engine,
        engine_options(job.options, job.settings),
        on_progress=report,
        chunk_audio=read() if read is not None else None,
    )
    summary = {"segments": len(result["segments"]), "language": result["language"]}
    return StageResult(summary, result)


def chunk_speech(chunk: dict, n_samples: int) -> tuple[tuple[float, float], ...]:
    """The chunk's speech regions in seconds from its start, inside its audio."""
    length = n_samples / audio.SAMPLE_RATE
    out = []
    for region in chunk["speech"]:
        a = max(0.0, region["start"] - chunk["start"])
        b = min(length, region["end"] - chunk["start"])
        if b > a:
            out.append((a, b))
    return tuple(out)


def transcribe_chunk(
    job_id: str,
    index: int,
    store: ArtifactStore,
    transcriber: Transcriber,
    options: TranscribeOptions,
    on_progress: Callable[[float], None] | None = None,
    chunk_audio: ChunkAudio | None = None,
) -> ChunkTranscript:
    """Transcribe chunk ``index`` of the job; its transcript (the caller stores it).

    ``chunk_audio``: the chunk, when the caller has read it (:func:`read_chunk`). The chunk
    transcript records its ``task``: the align stage must know that a translated chunk's
    English words were not spoken in its audio.
    """
    started = time.perf_counter()
    chunk, samples = chunk_audio or read_chunk(job_id, index, store)
    if "speech" in chunk:  # one VAD pass: prepare's regions, on the chunk's own clock
        options = dataclasses.replace(options, speech=chunk_speech(chunk, len(samples)))
    loaded = time.perf_counter()
    segments, language, probability = transcriber.transcribe(
        samples, options, offset=chunk["start"], on_progress=on_progress
    )
    decoded = time.perf_counter()
    check_segments(segments, "transcribe")
    result = ChunkTranscript(
        index=index,
        channel=chunk["channel"],
        language=language,
        language_probability=probability,
        segments=segments,
        task=options.task or "transcribe",
    )
    log.info(
        "job %s chunk %d: audio read in %.1f ms, transcribed in %.1f ms",
        job_id,
        index,
        1000 * (loaded - started),
        1000 * (decoded - loaded),
    )
    return result
