"""One VAD pass: prepare's block-wise VAD gives the whole-file regions, and the transcriber
decoding prepare's regions gives what its own VAD pass gave (real Silero, real tiny.en).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import get_vad_model

from dalston import audio, vad
from dalston.engines import faster_whisper as fw
from dalston.engines.faster_whisper import FasterWhisperTranscriber
from tests.engine_helpers import transcribe_options

MODEL_DIR = Path(os.environ["DALSTON_MODEL_DIR"])


@pytest.fixture(scope="module")
def jfk(fixtures_dir):
    return audio.decode(fixtures_dir / "jfk.flac").mono


def _long(jfk: np.ndarray, samples: int) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0, 0.01, 16000 * 4).astype(np.float32)
    one = np.concatenate([jfk, np.zeros(16000 * 3, np.float32), 0.5 * jfk, noise])
    return np.tile(one, samples // len(one) + 1)[:samples]


def _streamed(samples: np.ndarray, step: int) -> vad.SpeechDetector:
    detector = vad.SpeechDetector()
    for i in range(0, len(samples), step):
        detector.feed(samples[i : i + step])
    return detector


# Odd lengths, an exact number of frames, an exact number of batches, a tail of one frame.
@pytest.mark.parametrize(
    "length",
    [16000 * 200 + 77, 512 * 6000, 512 * vad.VAD_BATCH_FRAMES * 3, 512 * 2001 + 1],
)
def test_streamed_vad_gives_the_whole_file_regions(jfk, length):
    samples = _long(jfk, length)
    detector = _streamed(samples, 333_333)
    regions = detector.finish()
    assert regions == vad.find_speech(samples)
    assert len(regions) > 10


def test_streamed_probabilities_are_faster_whispers(jfk):
    samples = _long(jfk, 16000 * 100 + 5)
    padded = np.pad(samples, (0, 512 - len(samples) % 512))
    expected = np.asarray(get_vad_model()(padded.copy())).reshape(-1)
    detector = _streamed(samples, 100_000)
    detector.finish()
    assert np.array_equal(np.concatenate(detector._probs), expected)


def test_no_audio_no_speech():
    assert vad.SpeechDetector().finish() == []


def test_chunk_copy_is_the_bytes_to_wav_bytes_writes(jfk, tmp_path):
    whole = tmp_path / "whole.wav"
    whole.write_bytes(audio.to_wav_bytes(jfk))
    piece = audio.copy_wav_range(whole, tmp_path / "piece.wav", 16000, 16000 * 7 + 3, block=999)
    assert piece.read_bytes() == audio.to_wav_bytes(
        audio.read_wav_bytes(whole.read_bytes())[16000 : 16000 * 7 + 3]
    )


def test_given_regions_decode_as_the_engines_own_vad(jfk, monkeypatch):
    """Same segments with prepare's regions, and the VAD is not run again."""
    transcriber = FasterWhisperTranscriber()
    options = transcribe_options("tiny.en", MODEL_DIR)
    own, _, _ = transcriber.transcribe(jfk, options, offset=2.0)
    regions = tuple((r["start"], r["end"]) for r in vad.find_speech(jfk))

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the VAD ran again")

    monkeypatch.setattr(fw, "_vad", no_second_pass)
    given, _, _ = transcriber.transcribe(
        jfk, dataclasses.replace(options, speech=regions), offset=2.0
    )
    assert given == own
    with pytest.raises(AssertionError, match="the VAD ran again"):
        transcriber.transcribe(jfk, options)
