"""align: refine one chunk's word timestamps against its audio.

The aligner is the request's ``align_engine`` (default the worker's ``DALSTON_ALIGN_ENGINE``).
An aligner says which languages it covers (``languages``; pocketsphinx: English, whisperX:
any, with the chunk's language passed on; ``whisper``: none). A chunk in another language
keeps Whisper's word timings, and so does a word the aligner cannot place. So does a
translated chunk (``task: "translate"``): its English words were never spoken in the audio,
so aligning them would pin them to the wrong sounds. Each word says which method timed it,
and leaves with characters timed inside it. The output has the chunk transcript's shape,
under ``jobs/<id>/align/``.
"""

from __future__ import annotations

import json

from dalston import audio
from dalston.engines.forced_align import with_characters
from dalston.stages.prepare import load_manifest
from dalston.storage import keys
from dalston.storage.base import ArtifactStore

#: Languages of an aligner that does not say (pocketsphinx's en-us model).
ALIGNABLE_LANGUAGES = ("en",)


def run(job_id: str, index: int, store: ArtifactStore, aligner) -> dict:
    chunk = json.loads(store.get_bytes(keys.chunk_transcript(job_id, index)))
    languages = getattr(aligner, "languages", ALIGNABLE_LANGUAGES)
    translated = chunk.get("task", "transcribe") == "translate"
    covered = languages is None or chunk["language"] in languages
    if chunk["segments"] and covered and not translated:
        plan = {c["index"]: c for c in load_manifest(job_id, store)["chunks"]}[index]
        samples = audio.read_wav_bytes(store.get_bytes(plan["key"]))
        # Aligners for any language are told which one the chunk is in.
        options = {"language": chunk["language"] or "en"} if languages is None else {}
        chunk = dict(
            chunk, segments=aligner.align(samples, plan["start"], chunk["segments"], **options)
        )
    else:
        chunk = dict(
            chunk,
            segments=[
                dict(s, words=[dict(w, timing="whisper") for w in s.get("words", [])])
                for s in chunk["segments"]
            ],
        )
    # Whichever engine re-timed the words, their characters must lie inside them.
    chunk["segments"] = [
        dict(s, words=[with_characters(w) for w in s.get("words") or []]) for s in chunk["segments"]
    ]
    store.put_bytes(
        keys.aligned_chunk(job_id, index), json.dumps(chunk).encode(), "application/json"
    )
    return chunk
