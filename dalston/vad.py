"""Voice activity detection and Whisper's decoding windows, shared by prepare and the transcriber.

prepare plans chunks from these speech regions and windows; the faster-whisper engine cuts
each chunk into decoding windows with the same Silero settings, so a chunked file is decoded
window for window as a one-shot decode would be. A base module: stages and engines both
use it without importing each other.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

from dalston import audio
from dalston.contracts import SpeechRegion

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
    return VadOptions(max_speech_duration_s=WINDOW_SECONDS, **VAD_OPTIONS)


def find_speech(samples: np.ndarray) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono audio, with Silero VAD (bundled with faster-whisper)."""
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


#: Frames per Silero call (32 s). faster-whisper's whole-file call uses 10 000, whose
#: activations take about 240 MB; the probabilities do not depend on the batch
#: (``tests/unit/test_vad_stream.py`` checks), so a smaller one bounds prepare's memory.
VAD_BATCH_FRAMES = 1000
_CONTEXT = 64


class SpeechDetector:
    """Silero VAD fed block by block, with exactly the regions of one :func:`find_speech` call.

    faster-whisper's VAD takes the whole file as one float32 array (0.23 GB per hour) and
    runs the model on it in batches of 10 000 frames. This runs the same ONNX model on the
    same 512-sample frames, each with the same 64-sample context, in batches of
    ``VAD_BATCH_FRAMES`` carrying the model's state across calls, so memory is one batch
    while the probabilities, and therefore the regions, are those of the whole-file call
    (``tests/unit/test_vad_stream.py`` checks).
    """

    def __init__(self):
        self._session = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype="float32")
        self._c = np.zeros((1, 1, 128), dtype="float32")
        self._context = np.zeros(_CONTEXT, dtype="float32")
        self._pending: list[np.ndarray] = []
        self._held = 0
        self._probs: list[np.ndarray] = []
        self.samples = 0

    def feed(self, samples: np.ndarray) -> None:
        self._pending.append(np.asarray(samples, dtype=np.float32))
        self._held += len(samples)
        self.samples += len(samples)
        batch = VAD_BATCH_FRAMES * VAD_FRAME
        while self._held >= batch:
            data = np.concatenate(self._pending)
            self._run(data[:batch])
            rest = data[batch:]
            self._pending, self._held = ([rest] if len(rest) else []), len(rest)

    def _run(self, data: np.ndarray, last: bool = False) -> None:
        frames = data.reshape(-1, VAD_FRAME).copy()
        if last:  # faster-whisper zeroes the end of the final frame (its context quirk)
            frames[-1, -_CONTEXT:] = 0
        context = np.concatenate([self._context[None], frames[:-1, -_CONTEXT:]], axis=0)
        self._context = frames[-1, -_CONTEXT:].copy()
        out, self._h, self._c = self._session.run(
            None,
            {
                "input": np.concatenate([context, frames], axis=1),
                "h": self._h,
                "c": self._c,
            },
        )
        self._probs.append(np.asarray(out).reshape(-1))

    def settled(self) -> list[SpeechRegion]:
        """The regions of the audio scored so far that more audio can no longer change.

        Silero's endpointing is causal: a region, once closed, stays as it is. Only the last
        region may still be open (it grows, or closes too short to count, with more audio),
        and a region's padding depends on its neighbours' starts, so the last two are left
        out. The rest are exactly the first regions :meth:`finish` will give
        (``tests/unit/test_vad_stream.py`` checks); prepare uses them to cut the first chunk
        while it is still decoding.
        """
        whole = self._held // VAD_FRAME * VAD_FRAME
        if whole:  # score what is held (the probabilities do not depend on the batch)
            data = np.concatenate(self._pending)
            self._run(data[:whole])
            rest = data[whole:]
            self._pending, self._held = ([rest] if len(rest) else []), len(rest)
        if not self._probs:
            return []
        probs = np.concatenate(self._probs)
        regions = speech_timestamps(probs, len(probs) * VAD_FRAME, vad_options())
        return [
            SpeechRegion(start=s["start"] / audio.SAMPLE_RATE, end=s["end"] / audio.SAMPLE_RATE)
            for s in regions[:-2]
        ]

    def finish(self) -> list[SpeechRegion]:
        """The speech regions of everything fed (seconds)."""
        if self.samples == 0:
            return []
        data = np.concatenate(self._pending) if self._pending else np.zeros(0, "float32")
        data = np.pad(data, (0, VAD_FRAME - self.samples % VAD_FRAME))
        self._run(data, last=True)
        probs = np.concatenate(self._probs)
        return [
            SpeechRegion(start=s["start"] / audio.SAMPLE_RATE, end=s["end"] / audio.SAMPLE_RATE)
            for s in speech_timestamps(probs, self.samples, vad_options())
        ]


def speech_timestamps(probs: np.ndarray, length: int, options: VadOptions) -> list[dict]:
    """Speech regions (in samples) from Silero's per-frame probabilities.

    faster-whisper's ``get_speech_timestamps`` after its model call, line for line (MIT
    licence), so that regions found from streamed probabilities are the same.
    """
    rate, window = audio.SAMPLE_RATE, VAD_FRAME
    threshold = options.threshold
    neg_threshold = options.neg_threshold
    if neg_threshold is None:
        neg_threshold = max(threshold - 0.15, 0.01)
    min_speech_samples = rate * options.min_speech_duration_ms / 1000
    speech_pad_samples = rate * options.speech_pad_ms / 1000
    max_speech_samples = rate * options.max_speech_duration_s - window - 2 * speech_pad_samples
    min_silence_samples = rate * options.min_silence_duration_ms / 1000
    min_silence_samples_at_max_speech = rate * 98 / 1000

    triggered = False
    speeches: list[dict] = []
    current: dict = {}
    temp_end = prev_end = next_start = 0
    for i, prob in enumerate(probs):
        if prob >= threshold and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = window * i
        if prob >= threshold and not triggered:
            triggered = True
            current["start"] = window * i
            continue
        if triggered and window * i - current["start"] > max_speech_samples:
            if prev_end:
                current["end"] = prev_end
                speeches.append(current)
                current = {}
                if next_start < prev_end:
                    triggered = False
                else:
                    current["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current["end"] = window * i
                speeches.append(current)
                current = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue
        if prob < neg_threshold and triggered:
            if not temp_end:
                temp_end = window * i
            if window * i - temp_end > min_silence_samples_at_max_speech:
                prev_end = temp_end
            if window * i - temp_end < min_silence_samples:
                continue
            current["end"] = temp_end
            if current["end"] - current["start"] > min_speech_samples:
                speeches.append(current)
            current = {}
            prev_end = next_start = temp_end = 0
            triggered = False
            continue
    if current and length - current["start"] > min_speech_samples:
        current["end"] = length
        speeches.append(current)
    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - speech_pad_samples))
        if i != len(speeches) - 1:
            silence = speeches[i + 1]["start"] - speech["end"]
            if silence < 2 * speech_pad_samples:
                speech["end"] += int(silence // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - silence // 2))
            else:
                speech["end"] = int(min(length, speech["end"] + speech_pad_samples))
                speeches[i + 1]["start"] = int(
                    max(0, speeches[i + 1]["start"] - speech_pad_samples)
                )
        else:
            speech["end"] = int(min(length, speech["end"] + speech_pad_samples))
    return speeches
