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

import numpy as np

from dalston import audio
from dalston.contracts import Chunk, PreparedAudio, SpeechRegion
from dalston.errors import InvalidAudio
from dalston.storage import keys
from dalston.storage.base import ArtifactStore

log = logging.getLogger(__name__)

#: Silero VAD settings shared by prepare (to plan chunks) and transcribe (to cut each chunk
#: into decoding windows). With 1 s minimum silence and 200 ms padding, batched decoding is as
#: accurate as faster-whisper's sequential decoding on our test speech, and faster.
VAD_OPTIONS = {"min_silence_duration_ms": 1000, "speech_pad_ms": 200}
#: Whisper's window: speech regions are grouped into batches of windows this long.
WINDOW_SECONDS = 30.0
#: Silero's frame; chunk cuts fall on multiples of it so every chunk sees the same VAD frames
#: as the whole file would.
VAD_FRAME = 512


def vad_options():
    from faster_whisper.vad import VadOptions

    return VadOptions(max_speech_duration_s=WINDOW_SECONDS, **VAD_OPTIONS)


def find_speech(samples: np.ndarray) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono audio, with Silero VAD (bundled with faster-whisper)."""
    from faster_whisper.vad import get_speech_timestamps

    if samples.size == 0:
        return []
    return [
        SpeechRegion(start=s["start"] / audio.SAMPLE_RATE, end=s["end"] / audio.SAMPLE_RATE)
        for s in get_speech_timestamps(samples, vad_options())
    ]


def group_speech(speech: list[SpeechRegion]) -> list[list[SpeechRegion]]:
    """Group consecutive regions into decoding windows of at most 30 s of speech.

    The same rule as faster-whisper's batched pipeline (``vad.collect_chunks``), so the
    windows a chunk is decoded in are the windows a one-shot decode of the whole file uses.
    """
    groups: list[list[SpeechRegion]] = []
    current: list[SpeechRegion] = []
    length = 0.0
    for region in speech:
        span = region["end"] - region["start"]
        if current and length + span > WINDOW_SECONDS:
            groups.append(current)
            current, length = [], 0.0
        current.append(region)
        length += span
    if current:
        groups.append(current)
    return groups


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


#: Most channels a per-channel job may have (each is transcribed on its own).
MAX_CHANNELS = 8


def run(
    job_id: str, store: ArtifactStore, chunk_seconds: float, per_channel: bool = False
) -> PreparedAudio:
    """Decode ``jobs/<id>/input/source`` and write the manifest, the audio and the chunks.

    With ``per_channel``, every original channel gets its own speech regions and chunks
    (``Chunk.channel`` says which), so each channel is transcribed on its own.

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
    speech = find_speech(mono)
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
