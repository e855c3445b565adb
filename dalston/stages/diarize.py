"""diarize: who spoke when, from the prepared audio, in parallel with transcription."""

from __future__ import annotations

import json

from dalston import audio
from dalston.engines.base import Diarizer, SpeakerOptions
from dalston.options import JobOptions
from dalston.stages.context import Report, StageJob
from dalston.stages.prepare import load_manifest
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def speaker_options(options: JobOptions) -> SpeakerOptions:
    """The request's speaker constraints as the diarizer takes them."""
    return SpeakerOptions(
        num_speakers=options.num_speakers,
        min_speakers=options.min_speakers,
        max_speakers=options.max_speakers,
        threshold=options.diarization_threshold,
    )


def run(job: StageJob, store: ArtifactStore, engine: Diarizer, report: Report) -> dict:
    """Find the job's speaker turns (the task's entry point)."""
    turns = find_turns(job.id, store, engine, speaker_options(job.options))
    return {"turns": len(turns), "speakers": len({t["speaker"] for t in turns})}


def find_turns(
    job_id: str, store: ArtifactStore, diarizer: Diarizer, options: SpeakerOptions
) -> list[dict]:
    """Write ``jobs/<id>/diarize/turns.json``: ``[{start, end, speaker}]`` in time order."""
    manifest = load_manifest(job_id, store)
    turns: list[dict] = []
    if manifest["speech"]:
        samples = audio.read_wav_bytes(store.get_bytes(manifest["audio_key"]))
        turns = diarizer.diarize(samples, manifest["speech"], options)
    store.put_bytes(keys.turns(job_id), json.dumps(turns).encode(), "application/json")
    return turns


def load_turns(job_id: str, store: ArtifactStore) -> list[dict]:
    return json.loads(store.get_bytes(keys.turns(job_id)))
