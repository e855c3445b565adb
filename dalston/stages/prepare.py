"""prepare: decode the input, find speech, and cut long audio into chunks at silences.

The chunk plan is what lets a long file spread over every transcribe worker: each chunk
becomes one ``transcribe`` task. Cuts fall in pauses between Whisper's decoding windows,
so no word is split and chunking does not change how any window is decoded.
"""

from __future__ import annotations

import collections
import dataclasses
import filecmp
import json
import logging
import tempfile
import threading
from pathlib import Path

from dalston import audio, fetch
from dalston.config import Settings
from dalston.contracts import Chunk, PreparedAudio, SpeechRegion
from dalston.errors import InvalidAudio, StageError
from dalston.options import MAX_CHANNELS
from dalston.stages.context import Report, StageJob, no_report
from dalston.storage import keys
from dalston.storage.base import ArtifactStore
from dalston.vad import (  # noqa: F401  (prepare.find_speech: used by the diarize tests)
    VAD_FRAME,
    SpeechDetector,
    find_speech,
    group_speech,
)

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
        max_seconds=job.settings.max_audio_seconds,
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
    max_seconds: float | None = None,
) -> PreparedAudio:
    """Decode ``jobs/<id>/input/source`` and write the manifest, the audio and the chunks.

    The prepared audio (``manifest["audio_key"]``) is ``prepare/audio.wav``, or the source
    itself when it is byte for byte what prepare would write.

    Decoding streams (:class:`audio.BlockDecoder`): each block is written to the WAV files
    on local disk and fed to the VAD (:class:`vad.SpeechDetector`), then dropped, so
    memory does not grow with the file's length; chunks are read back from those files.
    ``max_seconds`` (``DALSTON_MAX_AUDIO_SECONDS``) stops decoding there with a warning,
    for a file whose header understated its length past the API's check.

    With ``per_channel``, every original channel gets its own speech regions and chunks
    (``Chunk.channel`` says which), so each channel is transcribed on its own.
    ``on_progress`` is called between the steps; it raises ``JobCancelled`` to stop a
    prepare whose job was cancelled or deleted meanwhile.

    Raises:
        InvalidAudio: the input cannot be decoded, or per-channel audio has one channel or
            more than MAX_CHANNELS.
    """
    with tempfile.TemporaryDirectory(prefix="dalston-prepare-") as tmp:
        work = Path(tmp)
        src = store.download_to(keys.source(job_id), work / "source")
        decoded = _decode_to_files(src, work, per_channel, on_progress, max_seconds)
        if filecmp.cmp(src, decoded.mono_path, shallow=False):
            # The upload is the prepared audio already (16 kHz mono PCM16 WAV with the
            # canonical header, as an ElevenLabs pcm_s16le_16 upload becomes): no copy.
            audio_key = keys.source(job_id)
        else:
            audio_key = keys.prepared_audio(job_id)
            store.put_file(audio_key, decoded.mono_path, "audio/wav")
        src.unlink()
        channel_keys = []
        if decoded.channels > 1:
            for c, path in enumerate(decoded.channel_paths):
                key = keys.channel_audio(job_id, c)
                store.put_file(key, path, "audio/wav")
                channel_keys.append(key)
        on_progress(0.85)
        sources = (
            [
                (c, decoded.channel_paths[c], decoded.channel_speech[c])
                for c in range(decoded.channels)
            ]
            if per_channel
            else [(None, decoded.mono_path, decoded.speech)]
        )
        chunks: list[Chunk] = []
        for channel, path, regions in sources:
            for start, end in plan_chunks(regions, decoded.duration, chunk_seconds):
                index = len(chunks)
                if channel is None and start == 0.0 and end == decoded.duration:
                    # One chunk that is the whole file: the prepared audio, not a copy.
                    key = audio_key
                else:
                    key = keys.chunk_audio(job_id, index)
                    a, b = round(start * audio.SAMPLE_RATE), round(end * audio.SAMPLE_RATE)
                    piece = audio.copy_wav_range(path, work / "chunk.wav", a, b)
                    store.put_file(key, piece, "audio/wav")
                on_progress(min(0.99, 0.85 + 0.15 * end / max(decoded.duration, 1e-6)))
                inside = [r for r in regions if start <= r["start"] < end]
                chunks.append(
                    Chunk(
                        index=index,
                        start=start,
                        end=end,
                        channel=channel,
                        key=key,
                        speech=inside,
                    )
                )
    warnings = decoded.warnings
    if not decoded.speech:
        warnings.append("no speech was found in the audio")
    manifest = PreparedAudio(
        duration=round(decoded.duration, 3),
        sample_rate=decoded.probe.sample_rate,
        channels=decoded.channels,
        codec=decoded.probe.codec,
        container=decoded.probe.container,
        audio_key=audio_key,
        channel_keys=channel_keys,
        speech=decoded.speech,
        chunks=chunks,
        warnings=warnings,
    )
    body = json.dumps(manifest).encode()
    store.put_bytes(keys.manifest(job_id), body, "application/json")
    _remember_manifest(store, job_id, json.loads(body))  # what a reader would get
    log.info("prepared job %s: %.1f s, %d chunks", job_id, decoded.duration, len(chunks))
    return manifest


@dataclasses.dataclass
class _Decoded:
    """What one streaming pass over the input left: WAV files on disk and speech regions."""

    probe: audio.Probe
    duration: float
    channels: int
    mono_path: Path
    channel_paths: list[Path]
    speech: list[SpeechRegion]
    channel_speech: list[list[SpeechRegion]]
    warnings: list[str]


def _decode_to_files(
    src: Path,
    work: Path,
    per_channel: bool,
    on_progress: Report,
    max_seconds: float | None,
) -> _Decoded:
    """One pass: decode in blocks, write the mono (and per-channel) WAVs, run the VAD."""
    limit = None if max_seconds is None else int(max_seconds * audio.SAMPLE_RATE)
    try:
        decoder = audio.BlockDecoder(src, max_samples=limit)
    except ValueError as exc:
        raise InvalidAudio(f"could not decode the audio: {exc}") from exc
    declared = decoder.probe.duration
    mono_wav = audio.WavWriter(work / "audio.wav")
    channel_wavs: list[audio.WavWriter] = []
    mono_vad = SpeechDetector()
    channel_vads: list[SpeechDetector] = []
    n_channels = 0
    try:
        for block in decoder.blocks():
            if not n_channels:
                n_channels = block.shape[0]
                if per_channel and not 2 <= n_channels <= MAX_CHANNELS:
                    raise InvalidAudio(
                        f"speaker_detection=per_channel needs audio with 2 to {MAX_CHANNELS} "
                        f"channels; this file has {n_channels}"
                    )
                if n_channels > 1:
                    channel_wavs = [
                        audio.WavWriter(work / f"channel_{c}.wav") for c in range(n_channels)
                    ]
                if per_channel:
                    channel_vads = [SpeechDetector() for _ in range(n_channels)]
            mono = audio.downmix(block)
            mono_wav.write(mono)
            mono_vad.feed(mono)
            for c, writer in enumerate(channel_wavs):
                writer.write(block[c])
            for c, detector in enumerate(channel_vads):
                detector.feed(block[c])
            if declared:
                on_progress(min(0.8, 0.8 * decoder.samples / (declared * audio.SAMPLE_RATE)))
    except ValueError as exc:
        raise InvalidAudio(f"could not decode the audio: {exc}") from exc
    finally:
        mono_wav.close()
        for writer in channel_wavs:
            writer.close()
    if not decoder.samples:
        raise InvalidAudio("could not decode the audio: the file holds no decodable audio")
    duration = decoder.samples / audio.SAMPLE_RATE
    warnings: list[str] = []
    if decoder.truncated:
        warnings.append(
            f"the audio is longer than the limit of {max_seconds:.0f} s "
            f"(DALSTON_MAX_AUDIO_SECONDS); only its first {max_seconds:.0f} s were transcribed"
        )
    elif decoder.errors or (declared and duration < declared - 0.5):
        warnings.append(
            f"the audio ends early: {duration:.1f} s decoded"
            + (f" of {declared:.1f} s declared" if declared else "")
            + (f", {decoder.errors} damaged packets skipped" if decoder.errors else "")
        )
    on_progress(0.8)
    return _Decoded(
        probe=decoder.probe,
        duration=duration,
        channels=n_channels,
        mono_path=work / "audio.wav",
        channel_paths=[w.path for w in channel_wavs],
        speech=mono_vad.finish(),
        channel_speech=[d.finish() for d in channel_vads],
        warnings=warnings,
    )


#: Manifests kept per process for the per-chunk stages (a few jobs' worth: chunks of one
#: job arrive together).
MANIFEST_CACHE_SIZE = 16
_manifests: collections.OrderedDict[tuple[int, str], PreparedAudio] = collections.OrderedDict()
_manifests_lock = threading.Lock()


def load_manifest(job_id: str, store: ArtifactStore, *, cached: bool = False) -> PreparedAudio:
    """The job's chunk plan. ``cached``: from this process's cache when it has read it before.

    Per-chunk stages read the same manifest once per chunk; it is written once, by
    prepare, before any chunk is sent (a redelivered prepare writes the same plan again:
    planning is deterministic), so a process may keep it. Callers must not mutate it.
    """
    key = (id(store), job_id)
    if cached:
        with _manifests_lock:
            if key in _manifests:
                _manifests.move_to_end(key)
                return _manifests[key]
    manifest = json.loads(store.get_bytes(keys.manifest(job_id)))
    _remember_manifest(store, job_id, manifest)
    return manifest


def _remember_manifest(store: ArtifactStore, job_id: str, manifest: PreparedAudio) -> None:
    with _manifests_lock:
        _manifests[(id(store), job_id)] = manifest
        _manifests.move_to_end((id(store), job_id))
        while len(_manifests) > MANIFEST_CACHE_SIZE:
            _manifests.popitem(last=False)
