"""Audio made for tests: re-encodings of the shared fixtures, silence, broken files."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import av
import jiwer
import numpy as np

from dalston import audio

JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")
STEREO_LEFT = ("He began a confused complaint against the wizard, who had vanished behind the curtain "
               "on the left.")
STEREO_RIGHT = "The horizon seems extremely distant."

#: (container format, codec, file suffix)
FORMATS = {
    "mp3": ("mp3", "libmp3lame", ".mp3"),
    "ogg_opus": ("ogg", "libopus", ".ogg"),
    "m4a_aac": ("ipod", "aac", ".m4a"),
    "webm_opus": ("webm", "libopus", ".webm"),
    "mp4_aac": ("mp4", "aac", ".mp4"),
    "flac": ("flac", "flac", ".flac"),
    "wav": ("wav", "pcm_s16le", ".wav"),
}


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def encode(samples: np.ndarray, path: Path, fmt: str, rate: int = 48000) -> Path:
    """Encode mono float32 16 kHz samples into ``fmt`` (a key of FORMATS) with PyAV."""
    container_fmt, codec, _suffix = FORMATS[fmt]
    if codec == "libopus":
        rate = 48000
    elif codec in ("libmp3lame", "aac", "libvorbis"):
        rate = 44100
    with av.open(str(path), "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format or "s16", layout="mono", rate=rate)
        frame_size = 960
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), frame_size):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + frame_size], format="s16", layout="mono")
            frame.sample_rate = audio.SAMPLE_RATE
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    out.mux(packet)
        for resampled in resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_wav(samples: np.ndarray, path: Path, rate: int = audio.SAMPLE_RATE) -> Path:
    path.write_bytes(audio.to_wav_bytes(samples, rate))
    return path


def write_multichannel_wav(channels: list[np.ndarray], path: Path) -> Path:
    n = max(len(c) for c in channels)
    data = np.zeros((n, len(channels)), dtype=np.int16)
    for i, c in enumerate(channels):
        data[: len(c), i] = (np.clip(c, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(audio.SAMPLE_RATE)
        out.writeframes(data.tobytes())
    return path


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * audio.SAMPLE_RATE), dtype=np.float32)


def load(path: Path) -> np.ndarray:
    return audio.decode(path).mono


DIALOGUE = [
    "Good morning everyone, thank you for joining the planning meeting today.",
    "Thanks for having me. I have the latest numbers from the survey with me.",
    "Great, could you start with the results from the northern section of the river?",
    "Of course. We counted eleven places where the path had washed away after the storms.",
    "That is more than we expected. What do you think we should do first?",
    "I suggest we photograph every damaged place before the end of the month.",
]
DIALOGUE_VOICES = ("en-us", "en+f3")


def dialogue(workdir: Path, gap: float = 0.4) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """Six espeak-ng turns, en-us against en+f3: (samples, [(start, end, voice index)])."""
    import subprocess

    parts, truth, t = [], [], 0.0
    for i, line in enumerate(DIALOGUE):
        out = workdir / f"turn-{i}.wav"
        subprocess.run(["espeak-ng", "-v", DIALOGUE_VOICES[i % 2], "-w", str(out), line], check=True)
        speech = audio.decode(out).mono
        parts += [speech, np.zeros(int(gap * audio.SAMPLE_RATE), dtype=np.float32)]
        truth.append((t, t + len(speech) / audio.SAMPLE_RATE, i % 2))
        t += len(speech) / audio.SAMPLE_RATE + gap
    return np.concatenate(parts), truth
