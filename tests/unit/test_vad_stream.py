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


def _prefix_views(samples: np.ndarray, step: int):
    """The detector after each ``step`` samples, and the whole file's regions."""
    whole = vad.find_speech(samples)
    detector = vad.SpeechDetector()
    views = []
    for i in range(0, len(samples), step):
        detector.feed(samples[i : i + step])
        views.append(detector.settled())
    return views, whole


@pytest.mark.parametrize("name", ["jfk-long", "trn03.wav", "trn06.wav"])
def test_settled_regions_are_the_whole_files_first_regions(jfk, fixtures_dir, name):
    """What prepare cuts the first chunk from while it decodes is final: every prefix's
    settled regions begin the whole file's regions, and they grow to all but the last few."""
    if name == "jfk-long":
        samples = _long(jfk, 16000 * 200 + 77)
    else:
        one = audio.decode(fixtures_dir / name).mono
        samples = np.concatenate([one, one[::-1]] * 3)  # more turns and pauses
    views, whole = _prefix_views(samples, 16000 * 3 + 123)
    for settled in views:
        assert settled == whole[: len(settled)]
    early = [r for r in whole if r["end"] < len(samples) / 16000 - 15]
    assert len(views[-1]) >= len(early) > 5


@pytest.mark.parametrize("target", [10.0, 25.0, 60.0])
def test_the_early_first_cut_is_the_plans(jfk, target):
    from dalston.stages.prepare import first_cut, plan_chunks

    samples = _long(jfk, 16000 * 200 + 77)
    views, whole = _prefix_views(samples, 16000 * 5)
    plan = plan_chunks(whole, len(samples) / 16000, target)
    cuts = [first_cut(settled, target) for settled in views]
    found = [c for c in cuts if c is not None]
    assert found and set(found) == {plan[0][1]}
    # known long before the file ends: the first chunk need not wait for the rest
    assert (cuts.index(found[0]) + 1) * 5 <= plan[0][1] + 30


def test_a_wav_still_being_written_gives_the_finished_files_ranges(jfk, tmp_path):
    writer = audio.WavWriter(tmp_path / "growing.wav")
    writer.write(jfk[:100_000])
    early = writer.copy_range(16000, 90_001, tmp_path / "early.wav").read_bytes()
    writer.write(jfk[100_000:])
    writer.close()
    late = audio.copy_wav_range(tmp_path / "growing.wav", tmp_path / "late.wav", 16000, 90_001)
    assert early == late.read_bytes()
    assert (tmp_path / "growing.wav").read_bytes() == audio.to_wav_bytes(
        audio.read_wav_bytes(audio.to_wav_bytes(jfk))
    )


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
