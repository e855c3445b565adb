"""A long recording of clean, known speech, for the benchmark and the long-file tests.

``build(seconds)`` has espeak-ng read the paragraphs of ``data/long_text.txt`` (original
prose, ~900 words) alternately in two voices (en-us and en+f3), with pauses of 1.2–2.5 s
between paragraphs, reading the text again with the voices swapped until the audio is
``seconds`` long; the end is cut at the last pause that fits and padded with silence.

Why synthetic: on the recorded meeting excerpts the tiny models' output swings with every
shift of the 30-second decoding window (one-shot against one-shot with other settings
differs by 13 % WER), which would hide what chunking itself changes. Clean speech makes the
chunked-versus-one-shot comparison measure the pipeline, not the model's instability.
Deterministic for a given espeak-ng version. Needs the ``espeak-ng`` program.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from dalston import audio

TEXT = Path(__file__).with_name("data") / "long_text.txt"
VOICES = ("en-us", "en+f3")
PAUSES = (1.2, 2.0, 1.5, 2.5, 1.8)
WORDS_PER_MINUTE = 160


def paragraphs() -> list[str]:
    return [p.replace("\n", " ").strip() for p in TEXT.read_text().split("\n\n") if p.strip()]


def speak(text: str, voice: str, workdir: Path) -> np.ndarray:
    """espeak-ng's reading of ``text`` as 16 kHz mono float32."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    out = workdir / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    return audio.decode(out).mono


def build(seconds: float = 600.0) -> tuple[np.ndarray, str]:
    """(16 kHz mono audio exactly ``seconds`` long, the text it speaks)."""
    total = int(seconds * audio.SAMPLE_RATE)
    parts: list[np.ndarray] = []
    spoken: list[str] = []
    length, turn = 0, 0
    texts = paragraphs()
    with tempfile.TemporaryDirectory(prefix="dalston-speech-") as tmp:
        while True:
            text = texts[turn % len(texts)]
            voice = VOICES[(turn + turn // len(texts)) % len(VOICES)]
            speech = speak(text, voice, Path(tmp))
            pause = np.zeros(int(PAUSES[turn % len(PAUSES)] * audio.SAMPLE_RATE), dtype=np.float32)
            if length + len(speech) > total:
                break
            parts += [speech, pause]
            spoken.append(text)
            length += len(speech) + len(pause)
            turn += 1
    samples = np.concatenate(parts)[:total]
    samples = np.pad(samples, (0, total - len(samples)))
    return samples.astype(np.float32), " ".join(spoken)


def write(path: Path, seconds: float = 600.0) -> tuple[Path, str]:
    samples, text = build(seconds)
    path.write_bytes(audio.to_wav_bytes(samples))
    return path, text
