"""merge: stitch the chunk transcripts into the final transcript.

Chunks never overlap (prepare cuts at silences), so stitching is ordering by time. The
result is one document — written to the job row and to ``jobs/<id>/merge/transcript.json`` —
so a merge that runs twice replaces its output instead of duplicating segments. The exports
(txt, srt, vtt, the ElevenLabs formats) are rendered by the API from the job row when asked
(``dalston.exports``), never stored: an object per format per job would cost storage writes
on every job for files most jobs never fetch.
"""

from __future__ import annotations

import collections
import json

from dalston.contracts import ChunkTranscript, PreparedAudio, Transcript
from dalston.stages import align
from dalston.stages.context import Report, StageJob, stage_input
from dalston.stages.diarize import load_turns
from dalston.stages.prepare import load_manifest
from dalston.storage import keys
from dalston.storage.base import ArtifactStore


def run(job: StageJob, store: ArtifactStore, engine: None, report: Report) -> Transcript:
    """Stitch the job's chunks, assign speakers and store the transcript.

    The task's entry point. Unlike the other stages it returns the transcript itself: the
    task writes it to the job row when it completes the job.
    """
    options = job.options
    manifest = load_manifest(job.id, store)
    chunks = load_chunks(job, store, manifest)
    if options.word_timestamps and not options.merges_aligned:
        chunks = [align.whisper_timed(c) for c in chunks]  # align_engine=whisper: no align task
    turns = load_turns(job.id, store) if options.needs_diarize else None
    if options.per_channel:
        turns = channel_turns(manifest, chunks)
    transcript = stitch(
        manifest, chunks, options.language, word_level=options.word_timestamps, turns=turns
    )
    write_transcript(job.id, store, transcript)
    return transcript


def chunk_stage(options) -> str:
    """The stage whose outputs are the chunks merge stitches."""
    if options.whole_file_engine:
        return "whisperx_full"
    return "align" if options.needs_align else "transcribe"


def reads(options, part: int) -> tuple[str, None]:
    """Every chunk's output (``StageTask.begin`` loads them into ``job.inputs``)."""
    return (chunk_stage(options), None)


def load_chunks(
    job: StageJob, store: ArtifactStore, manifest: PreparedAudio
) -> list[ChunkTranscript]:
    """The chunk transcripts, in plan order, from the stage rows merge read with the job.

    (From storage only for rows finished before outputs moved onto the rows.)
    """
    legacy = (
        keys.chunk_transcript if chunk_stage(job.options) == "transcribe" else keys.aligned_chunk
    )
    return [
        stage_input(job, c["index"], store, legacy(job.id, c["index"])) for c in manifest["chunks"]
    ]


def stitch(
    manifest: PreparedAudio,
    chunks: list[ChunkTranscript],
    language: str | None,
    word_level: bool = True,
    turns: list[dict] | None = None,
) -> Transcript:
    """Build the transcript from chunk transcripts; with speakers if ``turns`` are given (pure)."""
    segments = []
    for chunk in chunks:
        if chunk["channel"] is None:
            segments.extend(chunk["segments"])
            continue
        # Per-channel: the channel is the speaker; channels interleave on one timeline.
        speaker = channel_speaker(chunk["channel"])
        segments.extend(
            dict(
                seg,
                speaker=speaker,
                channel=chunk["channel"],
                words=[
                    dict(w, speaker=speaker, channel=chunk["channel"]) for w in seg.get("words", [])
                ],
            )
            for seg in chunk["segments"]
        )
    segments.sort(key=lambda s: (s["start"], s["end"]))
    if turns is not None and not any(c["channel"] is not None for c in chunks):
        segments = assign_speakers(segments, turns)
    out_segments, words = [], []
    for i, seg in enumerate(segments):
        seg = dict(seg, id=i, speaker=seg.get("speaker"))
        seg_words = (
            [dict(w, speaker=w.get("speaker", seg["speaker"])) for w in seg.get("words", [])]
            if word_level
            else []
        )
        seg["words"] = seg_words
        words.extend(seg_words)
        out_segments.append(seg)
    spoken = languages_spoken(chunks)
    # The language spoken most (by transcribed seconds) when it was detected, not forced.
    if language is None:
        language = spoken[0]["language"] if spoken else None
        language_probability = next(
            (c["language_probability"] for c in chunks if c["language"] == language), None
        )
    else:
        language_probability = 1.0
        spoken = [{"language": language, "share": 1.0}]
    return Transcript(
        text=" ".join(s["text"].strip() for s in out_segments).strip(),
        language=language,
        language_probability=language_probability,
        languages=spoken,
        duration=manifest["duration"],
        segments=out_segments,
        words=words,
        speakers=speaker_list(turns) if turns else [],
        warnings=list(manifest["warnings"]),
    )


def languages_spoken(chunks: list[ChunkTranscript]) -> list[dict]:
    """Every language in the transcript with its share of the transcribed seconds, most first.

    A segment says its own language (a code-switched chunk has several); one without says
    its chunk's.
    """
    seconds: collections.Counter = collections.Counter()
    for chunk in chunks:
        for seg in chunk["segments"]:
            language = seg.get("language") or chunk["language"]
            if language:
                seconds[language] += max(seg["end"] - seg["start"], 1e-3)
    total = sum(seconds.values())
    return [
        {"language": language, "share": round(s / total, 4)}
        for language, s in seconds.most_common()
    ]


def _speaker_at(start: float, end: float, turns: list[dict]) -> str | None:
    """The speaker whose turns overlap [start, end] most; the nearest turn when none does."""
    if not turns:
        return None
    overlap: dict[str, float] = collections.defaultdict(float)
    for turn in turns:
        shared = min(end, turn["end"]) - max(start, turn["start"])
        if shared > 0:
            overlap[turn["speaker"]] += shared
    if overlap:
        return max(overlap.items(), key=lambda kv: kv[1])[0]
    middle = (start + end) / 2
    return min(turns, key=lambda t: min(abs(t["start"] - middle), abs(t["end"] - middle)))[
        "speaker"
    ]


def assign_speakers(segments: list[dict], turns: list[dict]) -> list[dict]:
    """Give every word its speaker and split segments where the speaker changes (pure)."""
    out = []
    for seg in segments:
        words = seg.get("words") or []
        if not words:
            out.append(dict(seg, speaker=_speaker_at(seg["start"], seg["end"], turns)))
            continue
        words = [dict(w, speaker=_speaker_at(w["start"], w["end"], turns)) for w in words]
        runs: list[list[dict]] = [[words[0]]]
        for word in words[1:]:
            if word["speaker"] == runs[-1][-1]["speaker"]:
                runs[-1].append(word)
            else:
                runs.append([word])
        if len(runs) == 1:
            out.append(dict(seg, speaker=runs[0][0]["speaker"], words=words))
            continue
        for i, run in enumerate(runs):
            out.append(
                dict(
                    seg,
                    start=seg["start"] if i == 0 else run[0]["start"],
                    end=seg["end"] if i == len(runs) - 1 else run[-1]["end"],
                    text=" ".join(w["text"] for w in run),
                    speaker=run[0]["speaker"],
                    words=run,
                )
            )
    return out


def speaker_list(turns: list[dict]) -> list[dict]:
    """``[{id, label, total_seconds, channel?}]`` in order of first appearance."""
    totals: dict[str, float] = {}
    channels: dict[str, int] = {}
    for turn in turns:
        totals[turn["speaker"]] = totals.get(turn["speaker"], 0.0) + turn["end"] - turn["start"]
        if turn.get("channel") is not None:
            channels[turn["speaker"]] = turn["channel"]
    out = []
    for i, (sid, total) in enumerate(totals.items()):
        entry = {"id": sid, "label": f"Speaker {i + 1}", "total_seconds": round(total, 3)}
        if sid in channels:
            entry.update(label=f"Channel {channels[sid] + 1}", channel=channels[sid])
        out.append(entry)
    return out


def channel_speaker(channel: int) -> str:
    return f"SPEAKER_{channel:02d}"


def channel_turns(manifest: PreparedAudio, chunks: list[ChunkTranscript]) -> list[dict]:
    """Per-channel jobs: each channel's transcribed speech is one speaker's turns."""
    turns = []
    for chunk in chunks:
        for seg in chunk["segments"]:
            turns.append(
                {
                    "start": seg["start"],
                    "end": seg["end"],
                    "channel": chunk["channel"],
                    "speaker": channel_speaker(chunk["channel"]),
                }
            )
    turns.sort(key=lambda t: (t["channel"], t["start"]))
    return turns


def write_transcript(job_id: str, store: ArtifactStore, transcript: Transcript) -> str:
    """Store the transcript beside the job's other artifacts; returns its key."""
    key = keys.transcript(job_id)
    store.put_bytes(key, json.dumps(transcript).encode(), "application/json")
    return key
