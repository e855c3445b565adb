"""Synthetic speech whose truth is known exactly.

espeak-ng reads known text, so the words, the speakers and (when words are synthesised
one at a time) the word boundaries are known to the sample. ``make eval`` and the tests
both build their synthetic audio here, so a figure in the README and an assertion in a
test are about the same audio; both score it with ``evaluation.metrics`` (WER, word
timing). Needs the ``espeak-ng`` program (``make system-deps``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from dalston import audio

DIALOGUE = [
    "Good morning everyone, thank you for joining the planning meeting today.",
    "Thanks for having me. I have the latest numbers from the survey with me.",
    "Great, could you start with the results from the northern section of the river?",
    "Of course. We counted eleven places where the path had washed away after the storms.",
    "That is more than we expected. What do you think we should do first?",
    "I suggest we photograph every damaged place before the end of the month.",
]
#: Two voices an embedder tells apart (models.md §5: never en-us against en-gb).
DIALOGUE_VOICES = ("en-us", "en+f3")

TIMED_TEXT = (
    "good morning everyone the river survey is finished and we counted eleven places where "
    "the path had washed away after the storms so we will photograph every damaged place "
    "before the end of the month"
)


def _espeak(text: str, voice: str, out: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
    return audio.decode(out).mono


def dialogue(
    workdir: Path, gap: float = 0.4, voices: tuple[str, ...] = DIALOGUE_VOICES
) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """The six DIALOGUE turns read in turn by ``voices``: (samples, [(start, end, voice index)])."""
    parts, truth, t = [], [], 0.0
    for i, line in enumerate(DIALOGUE):
        speech = _espeak(line, voices[i % len(voices)], Path(workdir) / f"turn-{i}.wav")
        parts += [speech, np.zeros(int(gap * audio.SAMPLE_RATE), dtype=np.float32)]
        truth.append((t, t + len(speech) / audio.SAMPLE_RATE, i % len(voices)))
        t += len(speech) / audio.SAMPLE_RATE + gap
    return np.concatenate(parts), truth


def timed_words(workdir: Path, text: str = TIMED_TEXT, voice: str = "en-us"):
    """Speech whose word boundaries are known exactly: each word synthesised alone by espeak-ng,
    trimmed to its voiced part, and joined with gaps of 80–350 ms (a fixed random seed).

    Returns (samples, [(word, start, end)]).
    """
    rng = np.random.default_rng(7)
    parts, truth, t = [], [], 0.0
    for i, word in enumerate(text.split()):
        speech = _espeak(word, voice, Path(workdir) / f"w{i}.wav")
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
