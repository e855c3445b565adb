"""align: refine one chunk's word timestamps against its audio.

The aligner is the request's ``align_engine`` (default the worker's ``DALSTON_ALIGN_ENGINE``).
An aligner declares the languages it covers (``capabilities.languages``; pocketsphinx:
English, whisperX: any) and whether it times words at all (``word_timing``; the ``whisper``
engine does not). A chunk in a language the aligner does not cover keeps Whisper's word
timings, and so does a word the aligner cannot place. So does a translated chunk
(``task: "translate"``): its English words were never spoken in the audio, so aligning them
would pin them to the wrong sounds. Each word says which method timed it, and leaves with
characters timed inside it. The output has the chunk transcript's shape; the task writes it
on the chunk's align row, where merge reads it.
"""

from __future__ import annotations

from dalston.characters import with_characters
from dalston.contracts import ChunkTranscript
from dalston.engines.base import Aligner
from dalston.stages.context import Report, StageJob, StageResult, stage_input
from dalston.stages.prepare import read_chunk
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def reads(options, part: int) -> tuple[str, int]:
    """Its chunk's transcript (``StageTask.begin`` loads it into ``job.inputs``)."""
    return ("transcribe", part)


def run(job: StageJob, store: ArtifactStore, engine: Aligner, report: Report) -> StageResult:
    """Align chunk ``job.part`` (the task's entry point)."""
    chunk = stage_input(job, job.part, store, keys.chunk_transcript(job.id, job.part))
    result = align_chunk(
        job.id, job.part, chunk, store, engine, characters=job.options.character_timestamps
    )
    words = [w for s in result["segments"] for w in s.get("words", [])]
    summary = {
        "aligned": sum(w.get("timing", "whisper") != "whisper" for w in words),
        "words": len(words),
    }
    return StageResult(summary, result)


def _aligns(aligner: Aligner | None, chunk: dict) -> bool:
    """Whether ``aligner`` re-times any of this chunk's words (see the module docstring)."""
    return (
        aligner is not None
        and bool(chunk["segments"])
        and chunk.get("task", "transcribe") != "translate"
        and aligner.capabilities.word_timing
        and any(aligner.capabilities.covers(_language(s, chunk)) for s in chunk["segments"])
    )


def _language(segment: dict, chunk: dict) -> str:
    """A segment's own language (a code-switched chunk has several), else its chunk's."""
    return segment.get("language") or chunk["language"] or "en"


def _whisper_timed(segment: dict) -> dict:
    return dict(segment, words=[dict(w, timing="whisper") for w in segment.get("words", [])])


def with_valid_characters(chunk: ChunkTranscript) -> ChunkTranscript:
    """Whichever engine re-timed the words, their characters must lie inside them."""
    return dict(
        chunk,
        segments=[
            dict(s, words=[with_characters(w) for w in s.get("words") or []])
            for s in chunk["segments"]
        ],
    )


def whisper_timed(chunk: ChunkTranscript) -> ChunkTranscript:
    """The chunk with the transcriber's own word times, labelled so (no aligner ran).

    Also what merge applies to the chunks of a job that skipped the align task
    (``align_engine=whisper``), so both give the same words.
    """
    return with_valid_characters(
        dict(chunk, segments=[_whisper_timed(s) for s in chunk["segments"]])
    )


def align_chunk(
    job_id: str,
    index: int,
    chunk: ChunkTranscript,
    store: ArtifactStore,
    aligner: Aligner | None,
    *,
    characters: bool = False,
) -> ChunkTranscript:
    """Chunk ``index``'s transcript ``chunk`` with its words re-timed (if covered).

    ``characters``: the request asked for character times (the aligner's phone pass).
    """
    if _aligns(aligner, chunk):
        plan, samples = read_chunk(job_id, index, store)
        # Each segment is aligned in its own language, or keeps Whisper's times if the
        # aligner does not cover it.
        segments = [
            (
                aligner.align(
                    samples,
                    plan["start"],
                    [s],
                    language=_language(s, chunk),
                    characters=characters,
                )[0]
                if aligner.capabilities.covers(_language(s, chunk))
                else _whisper_timed(s)
            )
            for s in chunk["segments"]
        ]
        chunk = dict(chunk, segments=segments)
        chunk = with_valid_characters(chunk)
    else:
        chunk = whisper_timed(chunk)
    return chunk
