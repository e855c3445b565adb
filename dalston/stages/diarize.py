"""diarize: who spoke when, from the prepared audio, in parallel with transcription."""

from __future__ import annotations

import json

from dalston import audio
from dalston.stages.prepare import load_manifest
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def run(job_id: str, store: ArtifactStore, diarizer, options: dict) -> list[dict]:
    """Write ``jobs/<id>/diarize/turns.json``: ``[{start, end, speaker}]`` in time order.

    Args:
        options: ``num_speakers``, ``min_speakers``, ``max_speakers`` (each may be None).
    """
    manifest = load_manifest(job_id, store)
    turns: list[dict] = []
    if manifest["speech"]:
        samples = audio.read_wav_bytes(store.get_bytes(manifest["audio_key"]))
        turns = diarizer.diarize(samples, manifest["speech"], **options)
    store.put_bytes(keys.turns(job_id), json.dumps(turns).encode(), "application/json")
    return turns


def load_turns(job_id: str, store: ArtifactStore) -> list[dict]:
    return json.loads(store.get_bytes(keys.turns(job_id)))
