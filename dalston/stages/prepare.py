"""prepare: decode the input, find speech, and cut long audio into chunks at silences.

The chunk plan is what lets a long file spread over every transcribe worker: each chunk
becomes one ``transcribe`` task. Cuts fall in the middle of the widest pause near the
target length, so no word is split and each chunk starts on speech.
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

#: VAD settings for planning: short silences count as cut candidates.
VAD_MIN_SILENCE_MS = 300
VAD_SPEECH_PAD_MS = 150


def find_speech(samples: np.ndarray) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono audio, with Silero VAD (bundled with faster-whisper)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if samples.size == 0:
        return []
    opts = VadOptions(min_silence_duration_ms=VAD_MIN_SILENCE_MS, speech_pad_ms=VAD_SPEECH_PAD_MS)
    stamps = get_speech_timestamps(samples, opts)
    return [
        SpeechRegion(start=round(s["start"] / audio.SAMPLE_RATE, 3), end=round(s["end"] / audio.SAMPLE_RATE, 3))
        for s in stamps
    ]


def plan_chunks(speech: list[SpeechRegion], duration: float, target: float) -> list[tuple[float, float]]:
    """Cut the speech into ``(start, end)`` spans of about ``target`` seconds, at silences.

    Each span ends in the middle of the widest pause found between half the target and the
    target (later pauses win ties); continuous speech longer than the target is cut hard at
    the target. Silence before the first and after the last speech region is left out.
    """
    if not speech:
        return []
    spans: list[tuple[float, float]] = []
    start = max(0.0, speech[0]["start"])
    last_end = min(duration, speech[-1]["end"])
    gaps = [(speech[i]["end"], speech[i + 1]["start"]) for i in range(len(speech) - 1)]
    while last_end - start > target * 1.25:
        lo, hi = start + target * 0.5, start + target
        window = [g for g in gaps if lo < (g[0] + g[1]) / 2 <= hi]
        if window:
            gap = max(window, key=lambda g: (round(g[1] - g[0], 2), g[0]))
            cut, next_start = (gap[0] + gap[1]) / 2, gap[1]
        else:
            cut = next_start = hi
        spans.append((round(start, 3), round(cut, 3)))
        # Skip the silence after the cut: the next chunk starts on speech (minus padding).
        start = max(cut, next_start - VAD_SPEECH_PAD_MS / 1000.0)
    spans.append((round(start, 3), round(last_end, 3)))
    return spans


def run(job_id: str, store: ArtifactStore, chunk_seconds: float) -> PreparedAudio:
    """Decode ``jobs/<id>/input/source`` and write the manifest, the audio and the chunks.

    Raises:
        InvalidAudio: the input cannot be decoded.
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
            + (f", {decoded.decode_errors} damaged packets skipped" if decoded.decode_errors else "")
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
    chunks: list[Chunk] = []
    for index, (start, end) in enumerate(plan_chunks(speech, decoded.duration, chunk_seconds)):
        key = keys.chunk_audio(job_id, index)
        a, b = int(start * audio.SAMPLE_RATE), int(end * audio.SAMPLE_RATE)
        store.put_bytes(key, audio.to_wav_bytes(mono[a:b]), "audio/wav")
        chunks.append(Chunk(index=index, start=start, end=end, channel=None, key=key))
    if not speech:
        warnings.append("no speech was found in the audio")
    manifest = PreparedAudio(
        duration=round(decoded.duration, 3),
        sample_rate=decoded.probe.sample_rate,
        channels=int(decoded.channels.shape[0]),
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
