"""transcribe: one chunk of prepared audio → that chunk's transcript on the job's timeline."""

from __future__ import annotations

import json
from typing import Callable

from dalston import audio
from dalston.contracts import ChunkTranscript
from dalston.errors import StageError
from dalston.stages.prepare import load_manifest
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def _check_segments(segments) -> None:
    """Refuse malformed engine output here, not as a crash in merge."""
    for seg in segments:
        ok = (
            isinstance(seg, dict)
            and isinstance(seg.get("text"), str)
            and isinstance(seg.get("start"), (int, float))
            and isinstance(seg.get("end"), (int, float))
            and seg["end"] >= seg["start"]
        )
        if not ok:
            raise StageError(
                "engine_error", f"the transcribe engine returned a malformed segment: {seg!r:.200}"
            )


def run(
    job_id: str,
    index: int,
    store: ArtifactStore,
    transcriber,
    options: dict,
    on_progress: Callable[[float], None] | None = None,
) -> ChunkTranscript:
    """Transcribe chunk ``index`` of the job and store ``jobs/<id>/transcribe/chunk_<n>.json``.

    Args:
        options: engine options (model, language, prompt, vocabulary, temperature, beam_size,
            word_timestamps, seed, task, tag_audio_events, plus
            model_dir/device/compute_type/cpu_threads).

    The chunk transcript records its ``task``: the align stage must know that a translated
    chunk's English words were not spoken in its audio.
    """
    manifest = load_manifest(job_id, store)
    chunks = {c["index"]: c for c in manifest["chunks"]}
    if index not in chunks:
        raise StageError("internal_error", f"chunk {index} is not in the job's chunk plan")
    chunk = chunks[index]
    samples = audio.read_wav_bytes(store.get_bytes(chunk["key"]))
    segments, language, probability = transcriber.transcribe(
        samples, offset=chunk["start"], on_progress=on_progress, **options
    )
    _check_segments(segments)
    result = ChunkTranscript(
        index=index,
        channel=chunk["channel"],
        language=language,
        language_probability=probability,
        segments=segments,
        task=options.get("task") or "transcribe",
    )
    store.put_bytes(
        keys.chunk_transcript(job_id, index), json.dumps(result).encode(), "application/json"
    )
    return result
