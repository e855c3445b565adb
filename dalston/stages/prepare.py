"""prepare: decode the input, find speech, and cut long audio into chunks at silences.

The chunk plan is what lets a long file spread over every transcribe worker: each chunk
becomes one ``transcribe`` task. Cuts fall in pauses between Whisper's decoding windows,
so no word is split and chunking does not change how any window is decoded.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from dalston import audio, fetch
from dalston.config import Settings
from dalston.contracts import Chunk, PreparedAudio, SpeechRegion
from dalston.errors import InvalidAudio, StageError
from dalston.options import MAX_CHANNELS
from dalston.stages.context import Report, StageJob, no_report
from dalston.storage import keys
from dalston.storage.base import ArtifactStore
from dalston.vad import VAD_FRAME, find_speech, group_speech

log = logging.getLogger(__name__)


def plan_chunks(
    speech: list[SpeechRegion], duration: float, target: float
) -> list[tuple[float, float]]:
    """Cut the timeline into contiguous ``(start, end)`` chunks of at most about ``target`` s.

    Cuts fall only between decoding windows (:func:`group_speech`), in the middle of the
    pause, on a VAD frame boundary. Each chunk is therefore decoded exactly as the whole
    file would be, which is why a file spread over many workers gets the transcript one
    process would give. A single window longer than ``target`` makes a longer chunk.
    """
    groups = group_speech(speech)
    if not groups:
        return []
    cuts = [0.0]
    for previous, following in zip(groups, groups[1:]):
        if following[-1]["end"] - cuts[-1] > target:
            middle = (previous[-1]["end"] + following[0]["start"]) / 2
            frame = int(middle * audio.SAMPLE_RATE) // VAD_FRAME * VAD_FRAME
            cuts.append(frame / audio.SAMPLE_RATE)
    ends = cuts[1:] + [duration]
    return [(round(a, 6), round(b, 6)) for a, b in zip(cuts, ends)]


def run(job: StageJob, store: ArtifactStore, engine: None, report: Report) -> dict:
    """Fetch the audio if it came as a URL, then decode and plan it (the task's entry point).

    Whole-file engines (whisperx-full) take the file in one task: one chunk, however long.
    """
    if job.source_url and not store.exists(keys.source(job.id)):
        fetch_source(job.id, job.source_url, store, job.settings)
    manifest = decode_and_plan(
        job.id,
        store,
        float("inf") if job.options.whole_file_engine else job.settings.chunk_seconds,
        per_channel=job.options.per_channel,
        on_progress=report,
    )
    return {"chunks": len(manifest["chunks"]), "duration": manifest["duration"]}


def fetch_source(job_id: str, url: str, store: ArtifactStore, settings: Settings) -> None:
    """Download ``url`` (same address guard and size limit as an upload) as the job's source."""
    with tempfile.TemporaryDirectory(prefix="dalston-fetch-") as tmp:
        dest = Path(tmp) / "source"
        try:
            fetch.download(
                url,
                dest,
                max_bytes=settings.max_upload_bytes,
                timeout=settings.url_fetch_timeout,
                allow_private=settings.allow_private_urls,
            )
        except ValueError as exc:
            raise StageError("url_fetch_failed", str(exc)) from exc
        store.put_file(keys.source(job_id), dest)


def decode_and_plan(
    job_id: str,
    store: ArtifactStore,
    chunk_seconds: float,
    per_channel: bool = False,
    on_progress: Report = no_report,
) -> PreparedAudio:
    """Decode ``jobs/<id>/input/source`` and write the manifest, the audio and the chunks.

    With ``per_channel``, every original channel gets its own speech regions and chunks
    (``Chunk.channel`` says which), so each channel is transcribed on its own.
    ``on_progress`` is called between the steps; it raises ``JobCancelled`` to stop a
    prepare whose job was cancelled or deleted meanwhile.

    Raises:
        InvalidAudio: the input cannot be decoded, or per-channel audio has one channel or
            more than MAX_CHANNELS.
    """
    with tempfile.TemporaryDirectory(prefix="dalston-prepare-") as tmp:
        src = store.download_to(keys.source(job_id), Path(tmp) / "source")
        try:
            decoded = audio.decode(src)
        except ValueError as exc:
            raise InvalidAudio(f"could not decode the audio: {exc}") from exc
    warnings: list[str] = []
    declared = decoded.probe.duration
    if decoded.decode_errors or (declared and decoded.duration < declared - 0.5):
        warnings.append(
            f"the audio ends early: {decoded.duration:.1f} s decoded"
            + (f" of {declared:.1f} s declared" if declared else "")
            + (
                f", {decoded.decode_errors} damaged packets skipped"
                if decoded.decode_errors
                else ""
            )
        )
    n_channels = int(decoded.channels.shape[0])
    if per_channel and not 2 <= n_channels <= MAX_CHANNELS:
        raise InvalidAudio(
            f"speaker_detection=per_channel needs audio with 2 to {MAX_CHANNELS} channels; "
            f"this file has {n_channels}"
        )
    mono = decoded.mono
    on_progress(0.3)
    speech = find_speech(mono)
    on_progress(0.5)
    store.put_bytes(keys.prepared_audio(job_id), audio.to_wav_bytes(mono), "audio/wav")
    channel_keys = []
    if decoded.channels.shape[0] > 1:
        for c in range(decoded.channels.shape[0]):
            key = keys.channel_audio(job_id, c)
            store.put_bytes(key, audio.to_wav_bytes(decoded.channels[c]), "audio/wav")
            channel_keys.append(key)
    sources = (
        [(c, decoded.channels[c], find_speech(decoded.channels[c])) for c in range(n_channels)]
        if per_channel
        else [(None, mono, speech)]
    )
    chunks: list[Chunk] = []
    for channel, samples, regions in sources:
        for start, end in plan_chunks(regions, decoded.duration, chunk_seconds):
            index = len(chunks)
            key = keys.chunk_audio(job_id, index)
            a, b = round(start * audio.SAMPLE_RATE), round(end * audio.SAMPLE_RATE)
            store.put_bytes(key, audio.to_wav_bytes(samples[a:b]), "audio/wav")
            on_progress(min(0.99, 0.5 + 0.5 * end / max(decoded.duration, 1e-6)))
            chunks.append(Chunk(index=index, start=start, end=end, channel=channel, key=key))
    if not speech:
        warnings.append("no speech was found in the audio")
    manifest = PreparedAudio(
        duration=round(decoded.duration, 3),
        sample_rate=decoded.probe.sample_rate,
        channels=n_channels,
        codec=decoded.probe.codec,
        container=decoded.probe.container,
        audio_key=keys.prepared_audio(job_id),
        channel_keys=channel_keys,
        speech=speech,
        chunks=chunks,
        warnings=warnings,
    )
    store.put_bytes(keys.manifest(job_id), json.dumps(manifest).encode(), "application/json")
    log.info("prepared job %s: %.1f s, %d chunks", job_id, decoded.duration, len(chunks))
    return manifest


def load_manifest(job_id: str, store: ArtifactStore) -> PreparedAudio:
    return json.loads(store.get_bytes(keys.manifest(job_id)))
