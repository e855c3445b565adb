"""The streaming engine with the real tiny.en model and Silero VAD on real speech.

Audio is fed in 100 ms pieces, as a realtime client sends it. What must hold: partials
only revise their tail (the confirmed prefix of a partial never changes and the committed
text starts with it), the committed text is as good as a batch transcription, compute per
partial is bounded by the window, a long utterance is committed at its maximum length, a
manual session commits only when told, keyterms reach the decoder, decoding repeats.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dalston import audio
from dalston.streaming.engine import StreamConfig, StreamingTranscriber, join_words
from dalston.streaming.vad import StreamingVad
from tests.bench.evaluation.metrics import wer

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
PIECE = 1600  # 100 ms


@pytest.fixture(scope="module")
def decoder():
    from dalston.engines.faster_whisper import FasterWhisperTranscriber
    from dalston.streaming.decoder import WhisperDecoder

    model = FasterWhisperTranscriber().load(
        "tiny.en", Path(os.environ["DALSTON_MODEL_DIR"]), cpu_threads=2
    )
    return WhisperDecoder(model)


@pytest.fixture(scope="module")
def jfk(fixtures_dir) -> np.ndarray:
    return audio.decode(fixtures_dir / "jfk.flac").mono


def stream(decoder, samples, **config) -> tuple[StreamingTranscriber, list[dict]]:
    engine = StreamingTranscriber(decoder, StreamConfig(**config))
    events = []
    for i in range(0, len(samples), PIECE):
        events += engine.feed(samples[i : i + PIECE])
    events += engine.finish()
    return engine, events


def committed_text(events) -> str:
    return " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])


@pytest.fixture(scope="module")
def jfk_vad(decoder, jfk):
    return stream(decoder, jfk)


def test_streaming_vad_matches_one_call_over_the_whole_audio(jfk):
    whole = jfk[: len(jfk) // 512 * 512]
    from dalston.streaming.vad import _model

    expected = np.asarray(_model()(whole)).reshape(-1)
    vad = StreamingVad()
    pieces = np.concatenate([vad(whole[i : i + 1000]) for i in range(0, len(whole), 1000)])
    np.testing.assert_allclose(pieces, expected[: len(pieces)], atol=1e-6)


def test_committed_text_is_as_good_as_batch(jfk_vad, decoder, jfk):
    _, events = jfk_vad
    streamed = committed_text(events)
    batch = " ".join(w["text"] for w in decoder.decode(jfk).words)
    assert wer(JFK, streamed) <= 0.10, streamed
    assert wer(JFK, streamed) <= wer(JFK, batch) + 0.10, (streamed, batch)


def test_vad_events_bracket_every_commit(jfk_vad):
    _, events = jfk_vad
    kinds = [e["type"] for e in events if e["type"] != "partial"]
    assert kinds[0] == "speech_start"
    assert kinds.count("speech_start") == kinds.count("speech_end") >= 2
    for i, kind in enumerate(kinds):
        if kind == "final":
            assert kinds[i - 1] == "speech_end"


def test_partials_only_revise_their_tail(jfk_vad):
    _, events = jfk_vad
    stable = ""
    partials = 0
    for event in events:
        if event["type"] == "partial":
            partials += 1
            assert event["text"].startswith(event["stable"])
            assert event["stable"].startswith(stable), (stable, event)
            stable = event["stable"]
        elif event["type"] == "final":
            assert event["text"].startswith(stable), (stable, event["text"])
            stable = ""
    assert partials >= 4


def test_finals_carry_words_times_language_and_confidence(jfk_vad, jfk):
    _, events = jfk_vad
    finals = [e for e in events if e["type"] == "final"]
    assert finals and all(f["language"] == "en" for f in finals)
    previous_end = 0.0
    for final in finals:
        assert 0 < final["confidence"] <= 1
        assert " ".join(w["text"] for w in final["words"]) == final["text"]
        for word in final["words"]:
            assert previous_end - 0.05 <= word["start"] <= word["end"] <= len(jfk) / 16000 + 0.1
            assert 0 <= word["confidence"] <= 1
            previous_end = word["end"]


def test_compute_per_partial_is_bounded_by_the_window(decoder, jfk):
    # One long utterance (the pauses removed) decoded with a 4-second window.
    speech = np.concatenate([jfk[int(a * 16000) : int(b * 16000)] for a, b in _speech(jfk)])
    engine, events = stream(decoder, np.concatenate([speech, speech]), window_seconds=4.0)
    windows = [seconds for seconds, _ in engine.decode_stats]
    # the window, one partial interval, and a VAD frame (an ahead decode ends on one)
    assert max(windows) <= 4.0 + 0.5 + 0.032 + 0.01, windows
    assert len(windows) >= 10
    text = committed_text(events)
    assert wer(JFK + " " + JFK, text) <= 0.25, text


def test_maximum_utterance_length_forces_a_commit(decoder, jfk):
    speech = np.concatenate([jfk[int(a * 16000) : int(b * 16000)] for a, b in _speech(jfk)])
    _, events = stream(decoder, speech, max_utterance_seconds=3.0)
    reasons = [e["reason"] for e in events if e["type"] == "final"]
    assert "max_length" in reasons, reasons
    assert wer(JFK, committed_text(events)) <= 0.35  # cut every 3 s, mid-phrase


def test_manual_session_commits_only_when_told(decoder, jfk):
    engine = StreamingTranscriber(decoder, StreamConfig(commit_on_vad=False))
    events = []
    for i in range(0, len(jfk), PIECE):
        events += engine.feed(jfk[i : i + PIECE])
    assert not [e for e in events if e["type"] == "final"]
    partials = [e for e in events if e["type"] == "partial"]
    assert wer(JFK, partials[-1]["text"]) <= 0.15
    finals = engine.commit()
    assert [f["reason"] for f in finals] == ["manual"]
    assert wer(JFK, finals[0]["text"]) <= 0.10, finals[0]["text"]
    assert [e for e in engine.finish() if e["type"] == "final"] == []


def test_clear_forgets_what_was_not_committed(decoder, jfk):
    engine = StreamingTranscriber(decoder, StreamConfig(commit_on_vad=False))
    for i in range(0, 4 * 16000, PIECE):
        engine.feed(jfk[i : i + PIECE])
    engine.clear()
    assert engine.commit()[0]["text"] == ""


def test_keyterms_are_hotwords(decoder, fixtures_dir):
    samples = audio.decode(fixtures_dir / "hotwords.mp3").mono
    _, events = stream(decoder, samples, hotwords=("ComfyUI",))
    assert "comfyui" in committed_text(events).lower().replace(" ", "")


def test_decoding_is_deterministic(decoder, jfk, jfk_vad):
    _, first = jfk_vad
    _, second = stream(decoder, jfk)
    assert [e for e in first if e["type"] == "final"] == [e for e in second if e["type"] == "final"]


def _speech(samples):
    from dalston.vad import find_speech

    return [(r["start"], r["end"]) for r in find_speech(samples)]


def test_end_of_speech_commit_decodes_nothing_new(decoder, jfk):
    """The window an end-of-speech commit needs is decoded while the silence is confirmed,
    so the commit itself waits for no decode (what keeps its latency low)."""
    engine = StreamingTranscriber(decoder, StreamConfig())
    commits = 0
    for i in range(0, len(jfk) + 2 * 16000, PIECE):
        piece = jfk[i : i + PIECE] if i < len(jfk) else np.zeros(PIECE, dtype="float32")
        before = len(engine.decode_stats)
        events = engine.feed(piece)
        if any(e["type"] == "final" and e["reason"] == "vad" for e in events):
            commits += 1
            assert len(engine.decode_stats) == before, "the commit ran a decode of its own"
    assert commits >= 2
    assert engine.cache_hits >= commits


def test_manual_commit_without_new_audio_reuses_the_last_decode(decoder, jfk):
    """A manual commit right after a partial over the same audio decodes nothing again."""
    engine = StreamingTranscriber(decoder, StreamConfig(commit_on_vad=False))
    partial = None
    for i in range(0, len(jfk), PIECE):
        events = engine.feed(jfk[i : i + PIECE])
        partial = next((e for e in events if e["type"] == "partial"), None)
        if i > 6 * 16000 and partial and engine._temp_end is None:
            break
    assert partial is not None
    before = len(engine.decode_stats)
    final = engine.commit()[0]
    assert len(engine.decode_stats) == before, "the commit decoded the same audio again"
    assert final["text"].startswith(partial["stable"])


def test_a_commit_decodes_only_what_is_not_confirmed(decoder, jfk):
    """A long utterance's commit decodes the tail after its confirmed words (plus at least
    ``TAIL_SECONDS``), not the whole window, and its text is still the utterance's."""
    from dalston.streaming.engine import TAIL_SECONDS

    speech = np.concatenate([jfk[int(a * 16000) : int(b * 16000)] for a, b in _speech(jfk)])
    engine = StreamingTranscriber(decoder, StreamConfig(commit_on_vad=False))
    for i in range(0, len(speech), PIECE):
        engine.feed(speech[i : i + PIECE])
    # New audio, speech (after silence the commit keeps only a little of it and may reuse
    # the last decode): the commit must decode.
    engine.feed(speech[16000 : 16000 + PIECE])
    assert engine._temp_end is None
    confirmed = list(engine._confirmed)
    assert len(confirmed) >= 4, confirmed
    utterance = (engine.samples_in - engine._utt_start) / 16000
    before = len(engine.decode_stats)
    final = engine.commit()[0]
    assert len(engine.decode_stats) == before + 1
    window = engine.decode_stats[-1][0]
    assert TAIL_SECONDS - 0.01 <= window < utterance - 1.0, (window, utterance)
    assert final["text"].startswith(join_words(confirmed))
    assert wer(JFK, final["text"]) <= 0.15, final["text"]


def test_the_model_gate_serves_commits_first_and_sheds_partials():
    """While the model is taken a partial is refused at once; queued commits go in order."""
    import threading

    from dalston.streaming.decoder import ModelGate

    gate = ModelGate()
    assert gate.acquire(urgent=False)
    assert not gate.acquire(urgent=False)
    order: list[int] = []

    def commit(n: int):
        gate.acquire(urgent=True)
        order.append(n)
        gate.release()

    threads = []
    for n in range(3):
        thread = threading.Thread(target=commit, args=(n,))
        thread.start()
        while len(gate._queue) < n + 1:  # the commit is queued before the next one starts
            threading.Event().wait(0.001)
        threads.append(thread)
    assert not gate.acquire(urgent=False)  # a commit waits: partials are refused
    gate.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2]
    assert gate.acquire(urgent=False)  # free again
    gate.release()


def test_words_aligned_to_no_audio_are_dropped(decoder, fixtures_dir):
    """trn06 starts mid-speech at "five years"; with the blank first prompt tiny.en writes
    an opening before it that aligns to no audio (every word at 0.0 s): it is dropped."""
    from dalston.streaming.decoder import _drop_unaligned

    samples = audio.decode(fixtures_dir / "trn06.wav").mono[: 8 * 16000]
    words = decoder.decode(samples, prompt=" ").words
    assert [w["text"].lower().strip(",.") for w in words[:2]] == ["five", "years"], words[:3]
    zero = {"start": 1.0, "end": 1.0, "confidence": 0.5}
    real = {"start": 1.0, "end": 1.2, "confidence": 0.5}
    kept = _drop_unaligned([dict(zero, text="a"), dict(real, text="b"), dict(zero, text="c")])
    assert [w["text"] for w in kept] == ["a", "b", "c"]  # one alone is kept
    run = [dict(zero, text=t) for t in "xyz"] + [dict(real, text="b")]
    assert [w["text"] for w in _drop_unaligned(run)] == ["b"]


def test_a_decode_that_skips_speech_is_told_apart():
    """A word stretched over seconds, or too few words for the window: decoded again."""
    from dalston.streaming.engine import _skips_speech

    def words(*spans):
        return [{"text": "w", "start": a, "end": b} for a, b in spans]

    speech = words(*[(0.3 * i, 0.3 * i + 0.28) for i in range(9)])
    assert not _skips_speech(speech, 3.0)
    assert _skips_speech(words((0.0, 1.42), (1.42, 3.0)), 3.0)  # "your country." over 3 s
    assert _skips_speech(words((0.0, 0.3), (0.4, 1.8), (1.8, 2.0), (2.0, 2.2)), 3.0)
    assert not _skips_speech(words((0.0, 0.5)), 1.5)  # short windows are left alone


def test_a_commit_in_a_pause_keeps_no_words_from_the_silence(decoder, jfk):
    """Committed while the VAD hears silence too short to end the speech: like an end of
    speech, only a little of the silence is decoded and no word may start in it."""
    speech = np.concatenate([jfk[int(a * 16000) : int(b * 16000)] for a, b in _speech(jfk)])
    engine = StreamingTranscriber(decoder, StreamConfig(commit_on_vad=False))
    for i in range(0, len(speech), PIECE):
        engine.feed(speech[i : i + PIECE])
    for _ in range(3):  # 0.3 s more silence: still under min_silence_ms
        engine.feed(np.zeros(PIECE, dtype="float32"))
    assert engine._in_speech and engine._temp_end is not None
    silence_from = engine._temp_end / 16000
    final = engine.commit()[0]
    assert final["words"] and all(w["start"] < silence_from for w in final["words"])
    assert wer(JFK, final["text"]) <= 0.2, final["text"]
