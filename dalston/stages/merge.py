"""merge: stitch the chunk transcripts into the final transcript and render the exports.

Chunks never overlap (prepare cuts at silences), so stitching is ordering by time. The
result is one document — written to the job row and to ``jobs/<id>/merge/`` — so a merge
that runs twice replaces its output instead of duplicating segments.
"""

from __future__ import annotations

import collections
import json

from dalston.contracts import ChunkTranscript, PreparedAudio, Transcript
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def load_chunks(job_id: str, store: ArtifactStore, manifest: PreparedAudio) -> list[ChunkTranscript]:
    return [json.loads(store.get_bytes(keys.chunk_transcript(job_id, c["index"]))) for c in manifest["chunks"]]


def stitch(manifest: PreparedAudio, chunks: list[ChunkTranscript], language: str | None,
           word_level: bool = True) -> Transcript:
    """Build the transcript from chunk transcripts (pure)."""
    segments = []
    for chunk in sorted(chunks, key=lambda c: (c["segments"][0]["start"] if c["segments"] else 0, c["index"])):
        segments.extend(chunk["segments"])
    segments.sort(key=lambda s: (s["start"], s["end"]))
    out_segments, words = [], []
    for i, seg in enumerate(segments):
        seg = dict(seg, id=i, speaker=seg.get("speaker"))
        seg_words = [dict(w, speaker=seg["speaker"]) for w in seg.get("words", [])] if word_level else []
        seg["words"] = seg_words
        words.extend(seg_words)
        out_segments.append(seg)
    # The language spoken most (by transcribed seconds) when it was detected per chunk.
    if language is None:
        seconds = collections.Counter()
        probability = {}
        for chunk in chunks:
            if chunk["language"]:
                seconds[chunk["language"]] += sum(s["end"] - s["start"] for s in chunk["segments"]) or 1e-3
                probability.setdefault(chunk["language"], chunk["language_probability"])
        language = seconds.most_common(1)[0][0] if seconds else None
        language_probability = probability.get(language)
    else:
        language_probability = 1.0
    return Transcript(
        text=" ".join(s["text"].strip() for s in out_segments).strip(),
        language=language,
        language_probability=language_probability,
        duration=manifest["duration"],
        segments=out_segments,
        words=words,
        speakers=[],
        warnings=list(manifest["warnings"]),
    )


def write_outputs(job_id: str, store: ArtifactStore, transcript: Transcript) -> list[str]:
    """Store the transcript and its txt/srt/vtt renderings; returns the keys written."""
    from dalston import exports

    written = []
    store.put_bytes(keys.transcript(job_id, "json"), json.dumps(transcript).encode(), "application/json")
    written.append(keys.transcript(job_id, "json"))
    for fmt in ("txt", "srt", "vtt"):
        body, mimetype = exports.render(transcript, fmt)
        store.put_bytes(keys.transcript(job_id, fmt), body.encode("utf-8"), mimetype)
        written.append(keys.transcript(job_id, fmt))
    return written
