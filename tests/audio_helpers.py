"""Audio made for tests: re-encodings of the shared fixtures, silence, broken files."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import av
import jiwer
import numpy as np

from dalston import audio

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
STEREO_LEFT = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain "
    "on the left."
)
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
        resampler = av.AudioResampler(
            format=stream.codec_context.format or "s16", layout="mono", rate=rate
        )
        frame_size = 960
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), frame_size):
            frame = av.AudioFrame.from_ndarray(
                pcm[None, start : start + frame_size], format="s16", layout="mono"
            )
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
        subprocess.run(
            ["espeak-ng", "-v", DIALOGUE_VOICES[i % 2], "-w", str(out), line], check=True
        )
        speech = audio.decode(out).mono
        parts += [speech, np.zeros(int(gap * audio.SAMPLE_RATE), dtype=np.float32)]
        truth.append((t, t + len(speech) / audio.SAMPLE_RATE, i % 2))
        t += len(speech) / audio.SAMPLE_RATE + gap
    return np.concatenate(parts), truth


TIMED_TEXT = (
    "good morning everyone the river survey is finished and we counted eleven places where "
    "the path had washed away after the storms so we will photograph every damaged place "
    "before the end of the month"
)


def timed_words(workdir: Path, text: str = TIMED_TEXT, voice: str = "en-us"):
    """Speech whose word boundaries are known exactly: each word synthesised alone by espeak-ng,
    trimmed to its voiced part, and joined with gaps of 80–350 ms.

    Returns (samples, [(word, start, end)]).
    """
    import subprocess

    rng = np.random.default_rng(7)
    parts, truth, t = [], [], 0.0
    for i, word in enumerate(text.split()):
        out = workdir / f"w{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), word], check=True)
        speech = audio.decode(out).mono
        loud = np.where(np.abs(speech) > 1e-3)[0]  # espeak pads with near-digital silence
        speech = speech[loud[0] : loud[-1] + 1] if len(loud) else speech
        gap = np.zeros(int(rng.uniform(0.08, 0.35) * audio.SAMPLE_RATE), dtype=np.float32)
        if i == 0:
            parts.append(np.zeros(int(0.5 * audio.SAMPLE_RATE), dtype=np.float32))
            t = 0.5
        truth.append((word, t, t + len(speech) / audio.SAMPLE_RATE))
        parts += [speech, gap]
        t += (len(speech) + len(gap)) / audio.SAMPLE_RATE
    parts.append(np.zeros(int(0.5 * audio.SAMPLE_RATE), dtype=np.float32))
    return np.concatenate(parts), truth


def timing_errors(words: list[dict], truth) -> tuple[float, float, int]:
    """(mean |start error|, mean |end error|, words matched) — words matched by text in order."""
    import difflib

    hyp = [normalise(w["text"]) for w in words]
    ref = [w for w, _, _ in truth]
    starts, ends = [], []
    for block in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            _, s, e = truth[block.a + k]
            w = words[block.b + k]
            starts.append(abs(w["start"] - s))
            ends.append(abs(w["end"] - e))
    return float(np.mean(starts)), float(np.mean(ends)), len(starts)
