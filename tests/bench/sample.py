"""Write ``dalston/data/sample.flac``, the speech sample Dalston ships for a first transcript.

``make run`` prints a ``curl`` line and a ``dalston transcribe`` line that name it, so a
fresh clone has something to transcribe without the development fixtures. The sample is
two espeak-ng voices reading :data:`SAMPLE_LINES` (so a diarized transcript shows two
speakers), 16 kHz mono FLAC. It is checked in; run ``python -m tests.bench.sample`` to
make it again (needs ``espeak-ng``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from dalston import audio
from tests.bench.synth import DIALOGUE_VOICES, _espeak

#: What the sample says, one line per voice (README: "Transcribe the sample").
SAMPLE_LINES = (
    "Welcome to Dalston, the speech to text server you run yourself.",
    "Send it a recording, and get back every word with its time and its speaker.",
)
SAMPLE_TEXT = " ".join(SAMPLE_LINES)
OUT = Path(__file__).resolve().parents[2] / "dalston" / "data" / "sample.flac"


def write(out: Path = OUT) -> Path:
    """Synthesise the sample into ``out`` (FLAC, 16 kHz mono)."""
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, line in enumerate(SAMPLE_LINES):
            speech = _espeak(line, DIALOGUE_VOICES[i % 2], Path(tmp) / f"{i}.wav")
            parts += [speech, np.zeros(int(0.5 * audio.SAMPLE_RATE), dtype=np.float32)]
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16)
    with av.open(str(out), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=audio.SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = audio.SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


if __name__ == "__main__":
    path = write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    print(f"{path}: {path.stat().st_size} bytes")
