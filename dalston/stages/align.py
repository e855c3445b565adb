"""align: refine one chunk's word timestamps against its audio.

English chunks go through the forced aligner (pocketsphinx); a word it cannot place keeps
Whisper's time. Other languages keep Whisper's word timings. Each word says which method
timed it. The output has the chunk transcript's shape, under ``jobs/<id>/align/``.
"""

from __future__ import annotations

import json

from dalston import audio
from dalston.stages.prepare import load_manifest
from dalston.storage import keys
from dalston.storage.base import ArtifactStore

ALIGNABLE_LANGUAGES = ("en",)


def run(job_id: str, index: int, store: ArtifactStore, aligner) -> dict:
    chunk = json.loads(store.get_bytes(keys.chunk_transcript(job_id, index)))
    if chunk["language"] in ALIGNABLE_LANGUAGES and chunk["segments"]:
        plan = {c["index"]: c for c in load_manifest(job_id, store)["chunks"]}[index]
        samples = audio.read_wav_bytes(store.get_bytes(plan["key"]))
        chunk = dict(chunk, segments=aligner.align(samples, plan["start"], chunk["segments"]))
    else:
        chunk = dict(
            chunk,
            segments=[
                dict(s, words=[dict(w, timing="whisper") for w in s.get("words", [])])
                for s in chunk["segments"]
            ],
        )
    store.put_bytes(
        keys.aligned_chunk(job_id, index), json.dumps(chunk).encode(), "application/json"
    )
    return chunk
