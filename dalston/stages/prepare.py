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
from typing import Callable, NamedTuple

import numpy as np

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


def _cut_between(previous: list[SpeechRegion], following: list[SpeechRegion]) -> float:
    """The cut between two decoding windows: the middle of the pause, on a VAD frame."""
    middle = (previous[-1]["end"] + following[0]["start"]) / 2
    frame = int(middle * audio.SAMPLE_RATE) // VAD_FRAME * VAD_FRAME
    return round(frame / audio.SAMPLE_RATE, 6)


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
            cuts.append(_cut_between(previous, following))
    ends = cuts[1:] + [duration]
    return [(round(a, 6), round(b, 6)) for a, b in zip(cuts, ends)]


def first_cut(settled: list[SpeechRegion], target: float) -> float | None:
    """Where :func:`plan_chunks` will end the first chunk, if ``settled`` regions decide it.

    ``settled``: the regions of a prefix of the audio that more audio cannot change
    (``SpeechDetector.settled``). Windows are grouped causally, so more regions only
    lengthen the last group; the first cut is the pause before the first window whose
    speech reaches beyond ``target``, and once a window's end does, it stays so. That is
    the cut the whole file's plan makes; None while the prefix does not decide it.
    """
    groups = group_speech(settled)
    for previous, following in zip(groups, groups[1:]):
        if following[-1]["end"] > target:
            return _cut_between(previous, following)
    return None


def run(
    job: StageJob,
    store: ArtifactStore,
    engine: None,
    report: Report,
    on_first_chunk: Callable[[Chunk], None] | None = None,
) -> dict:
    """Fetch the audio if it came as a URL, then decode and plan it (the task's entry point).

    Whole-file engines (whisperx-full) take the file in one task: one chunk, however long.
    ``on_first_chunk``: see :func:`decode_and_plan`.
    """
    if job.source_url and not store.exists(keys.source(job.id)):
        fetch_source(job.id, job.source_url, store, job.settings)
    whole_file = job.options.whole_file_engine
    manifest = decode_and_plan(
        job.id,
        store,
        float("inf") if whole_file else job.settings.chunk_seconds,
        per_channel=job.options.per_channel,
        on_progress=report,
        max_seconds=job.settings.max_audio_seconds,
        on_first_chunk=None if whole_file else on_first_chunk,
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
    on_first_chunk: Callable[[Chunk], None] | None = None,
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

    ``on_first_chunk(chunk)``: called with chunk 0 as soon as its end is certain
    (:func:`first_cut` on the VAD's settled regions), its audio and its plan
    (``prepare/first_chunk.json``) stored, while the rest of the file is still being
    decoded, so its transcription need not wait for the whole file. Only for a mono plan of
    more than one chunk; the manifest then holds that same chunk.

    Raises:
        InvalidAudio: the input cannot be decoded, or per-channel audio has one channel or
            more than MAX_CHANNELS.
    """
    with tempfile.TemporaryDirectory(prefix="dalston-prepare-") as tmp:
        work = Path(tmp)
        src = store.download_to(keys.source(job_id), work / "source")
        early = _FirstChunk(job_id, store, chunk_seconds, work, on_first_chunk)
        watch = early.watch if on_first_chunk is not None and not per_channel else None
        decoded = _decode_to_files(src, work, per_channel, on_progress, max_seconds, watch)
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
            planned = plan_chunks(regions, decoded.duration, chunk_seconds)
            if early.chunk is not None:
                planned = early.keep_first(planned)
            for start, end in planned:
                index = len(chunks)
                if early.chunk is not None and index == 0:
                    chunks.append(early.chunk)  # stored and sent already
                    continue
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
    watch: Callable[[audio.WavWriter, SpeechDetector], None] | None = None,
) -> _Decoded:
    """One pass: decode in blocks, write the mono (and per-channel) WAVs, run the VAD.

    ``watch(mono_wav, mono_vad)`` is called after each block (the first chunk's early cut).
    """
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
            if watch is not None:
                watch(mono_wav, mono_vad)
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


class _FirstChunk:
    """Chunk 0, cut and stored while prepare still decodes the file, then handed on."""

    def __init__(self, job_id, store, target, work, on_first_chunk):
        self.job_id, self.store, self.target, self.work = job_id, store, target, work
        self.on_first_chunk = on_first_chunk
        self.chunk: Chunk | None = None

    def watch(self, wav: audio.WavWriter, vad: SpeechDetector) -> None:
        if self.chunk is not None or vad.samples <= self.target * audio.SAMPLE_RATE:
            return
        settled = vad.settled()
        cut = first_cut(settled, self.target)
        if cut is None:
            return
        key = keys.chunk_audio(self.job_id, 0)
        piece = wav.copy_range(0, round(cut * audio.SAMPLE_RATE), self.work / "chunk.wav")
        self.store.put_file(key, piece, "audio/wav")
        inside = [r for r in settled if r["start"] < cut]
        chunk = Chunk(index=0, start=0.0, end=cut, channel=None, key=key, speech=inside)
        self.store.put_bytes(
            keys.first_chunk(self.job_id), json.dumps(chunk).encode(), "application/json"
        )
        self.chunk = chunk
        self.on_first_chunk(chunk)

    def keep_first(self, planned: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """The whole file's plan, which starts with the chunk already sent.

        It always does (:func:`first_cut`); were it ever not so, the sent chunk stands and
        the plan's next cuts follow it, rather than transcribing its audio twice.
        """
        cut = self.chunk["end"]
        if planned and planned[0] == (0.0, cut):
            return planned
        log.error("job %s: first chunk sent as (0, %s), planned %s", self.job_id, cut, planned[:1])
        rest = [(a, b) for a, b in planned if a >= cut]
        end = rest[0][0] if rest else planned[-1][1]
        return [(0.0, cut)] + ([(cut, end)] if end > cut else []) + rest


def load_chunk(job_id: str, index: int, store: ArtifactStore) -> Chunk:
    """Chunk ``index`` of the job's plan, for the per-chunk stages.

    From the manifest (cached: see :func:`load_manifest`), or for a first chunk that
    prepare sent before it wrote the manifest, from ``prepare/first_chunk.json``.

    Raises:
        StageError: the chunk is in neither (``internal_error``).
    """
    try:
        manifest = load_manifest(job_id, store, cached=True)
    except FileNotFoundError:
        manifest = None
    for chunk in (manifest or {}).get("chunks", []):
        if chunk["index"] == index:
            return chunk
    if index == 0 and manifest is None:
        try:
            return json.loads(store.get_bytes(keys.first_chunk(job_id)))
        except FileNotFoundError:
            pass
    raise StageError("internal_error", f"chunk {index} is not in the job's chunk plan")


class ChunkAudio(NamedTuple):
    """A chunk's plan and its samples."""

    chunk: Chunk
    samples: np.ndarray


def read_chunk(job_id: str, index: int, store: ArtifactStore) -> ChunkAudio:
    """Chunk ``index`` of the job's plan (:func:`load_chunk`), and its audio from storage."""
    chunk = load_chunk(job_id, index, store)
    return ChunkAudio(chunk, audio.read_wav_bytes(store.get_bytes(chunk["key"])))


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
