"""Engine options the ElevenLabs and OpenAI APIs need: audio events, character timings,
seeded sampling and translation (with the real tiny.en and base models)."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dalston import audio
from dalston.characters import character_times, with_characters
from dalston.engines import audio_events
from dalston.engines.faster_whisper import FasterWhisperTranscriber
from dalston.errors import StageError
from tests.engine_helpers import transcribe_options

MODEL_DIR = Path(os.environ["DALSTON_MODEL_DIR"])


@pytest.fixture(scope="module")
def transcriber():
    return FasterWhisperTranscriber()


@pytest.fixture(scope="module")
def jfk(fixtures_dir):
    return audio.decode(fixtures_dir / "jfk.flac").mono


def run(transcriber, samples, model="tiny.en", offset=0.0, **options):
    segments, language, _ = transcriber.transcribe(
        samples, transcribe_options(model, MODEL_DIR, **options), offset=offset
    )
    return segments, language


def text_and_times(segments):
    return (
        " ".join(s["text"] for s in segments),
        [(w["start"], w["end"]) for s in segments for w in s["words"]],
    )


# --- audio events -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,event",
    [
        ("[Music]", True),
        ("(laughs)", True),
        ("[APPLAUSE]", True),
        ("(door closes).", True),
        ("♪ ♪", True),
        ("hello", False),
        ("(laughs) okay", False),
        ("[1]", False),
        ("()", False),
        ("don't", False),
    ],
)
def test_is_audio_event(text, event):
    assert audio_events.is_audio_event(text) is event


def words(*texts):
    return [
        {"text": t, "start": float(i), "end": i + 0.5, "confidence": 0.5, "logprob": math.log(0.5)}
        for i, t in enumerate(texts)
    ]


def test_events_are_labelled_and_multi_word_events_joined():
    out = audio_events.label_words(words("[Music]", "Hello", "(door", "closes)", "there."), True)
    assert [(w["text"], w["type"]) for w in out] == [
        ("[Music]", "audio_event"),
        ("Hello", "word"),
        ("(door closes)", "audio_event"),
        ("there.", "word"),
    ]
    joined = out[2]
    assert (joined["start"], joined["end"]) == (2.0, 3.5)
    assert joined["confidence"] == 0.25 and joined["logprob"] == pytest.approx(math.log(0.25), 1e-3)


def test_events_are_dropped_when_not_wanted():
    out = audio_events.label_words(words("(laughs)", "Hello", "(door", "closes)"), False)
    assert [(w["text"], w["type"]) for w in out] == [("Hello", "word")]


def test_an_unclosed_bracket_is_speech():
    out = audio_events.label_words(words("(well", "I", "think"), True)
    assert [w["type"] for w in out] == ["word", "word", "word"]


def test_segment_text():
    assert audio_events.strip_events("[Music] Hello (laughs) there ♪") == "Hello there"
    assert audio_events.segment_type("[Music] (applause)") == "audio_event"
    assert audio_events.segment_type("[Music] Hello") == "speech"


def melody(seconds: float = 7.2) -> np.ndarray:
    """Plucked harmonic tones on a random scale: Whisper hears music, not speech."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.3 * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    notes = []
    for _ in range(int(seconds / 0.3)):
        f = 220 * 2 ** (rng.integers(0, 12) / 12)
        notes.append(
            0.2 * sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)) * np.exp(-3 * t)
        )
    return np.concatenate(notes).astype(np.float32)


def test_tag_audio_events_on_music(transcriber):
    tagged, _ = run(transcriber, melody(), language="en", tag_audio_events=True)
    events = [w for s in tagged for w in s["words"] if w["type"] == "audio_event"]
    print("tagged:", [s["text"] for s in tagged])
    assert events and all(audio_events.is_audio_event(w["text"]) for w in events)
    assert any(s["type"] == "audio_event" for s in tagged)
    plain, _ = run(transcriber, melody(), language="en", tag_audio_events=False)
    print("untagged:", [s["text"] for s in plain])
    assert all(w["type"] == "word" for s in plain for w in s["words"])
    assert not any(c in s["text"] for s in plain for c in "[]()♪")


def test_suppression_follows_the_option(transcriber, monkeypatch):
    import faster_whisper

    seen = {}
    original = faster_whisper.BatchedInferencePipeline.transcribe

    def spy(self, audio_, **kwargs):
        seen["suppress_tokens"] = list(kwargs["suppress_tokens"])  # faster-whisper extends it
        return original(self, audio_, **kwargs)

    monkeypatch.setattr(faster_whisper.BatchedInferencePipeline, "transcribe", spy)
    silence = np.zeros(16000, dtype=np.float32)
    run(transcriber, silence, tag_audio_events=False)
    assert seen["suppress_tokens"] == [-1]
    run(transcriber, silence, tag_audio_events=True)
    assert -1 not in seen["suppress_tokens"] and len(seen["suppress_tokens"]) <= 1


# --- character timings ------------------------------------------------------------------


def check_characters(word: dict) -> None:
    chars = word["characters"]
    assert "".join(c["text"] for c in chars) == word["text"]
    previous = word["start"]
    for c in chars:
        assert previous <= c["start"] <= c["end"] <= word["end"], (word, c)
        previous = c["end"]


def test_characters_share_a_word_evenly_without_phones():
    chars = character_times("dogs", 1.0, 1.4)
    assert [(c["start"], c["end"]) for c in chars] == [
        (1.0, 1.1),
        (1.1, 1.2),
        (1.2, 1.3),
        (1.3, 1.4),
    ]


def test_characters_follow_the_phones():
    # "good" is G UH D: the two o's share the vowel, whatever its length.
    phones = [("G", 0.0, 0.05), ("UH", 0.05, 0.25), ("D", 0.3, 0.4)]
    chars = character_times("good", 0.0, 0.4, phones)
    assert [(c["start"], c["end"]) for c in chars] == [
        (0.0, 0.05),
        (0.05, 0.15),
        (0.15, 0.25),
        (0.3, 0.4),
    ]


def test_silent_letters_share_a_neighbour():
    phones = [("N", 0.0, 0.1), ("AY", 0.1, 0.3), ("T", 0.3, 0.36)]
    chars = character_times("knight", 0.0, 0.36, phones)
    assert [(c["text"], c["start"], c["end"]) for c in chars] == [
        ("k", 0.0, 0.05),
        ("n", 0.05, 0.1),
        ("i", 0.1, 0.3),
        ("g", 0.3, 0.32),
        ("h", 0.32, 0.34),
        ("t", 0.34, 0.36),
    ]


def test_fewer_characters_than_phones_span_several():
    phones = [("TH", 0.0, 0.1), ("ER", 0.1, 0.2), ("T", 0.2, 0.3), ("IY", 0.3, 0.4)]
    chars = character_times("30", 0.0, 0.4, phones)
    assert [(c["start"], c["end"]) for c in chars] == [(0.0, 0.2), (0.2, 0.4)]


def test_punctuation_takes_no_time():
    chars = character_times('"Hi,"', 2.0, 2.2)
    assert [(c["text"], c["start"], c["end"]) for c in chars] == [
        ('"', 2.0, 2.0),
        ("H", 2.0, 2.1),
        ("i", 2.1, 2.2),
        (",", 2.2, 2.2),
        ('"', 2.2, 2.2),
    ]


def test_characters_never_leave_their_word():
    # Phones that overrun the word's (rounded) times are clamped into it.
    word = {"text": "river", "start": 3.1, "end": 3.44}
    phones = [("R", 3.09, 3.2), ("IH", 3.2, 3.3), ("V", 3.3, 3.35), ("ER", 3.35, 3.4456)]
    word["characters"] = character_times("river", 3.1, 3.44, phones)
    check_characters(word)


def test_stale_characters_are_respread():
    word = {"text": "hello", "start": 1.0, "end": 1.5}
    word["characters"] = character_times("hello", 0.5, 1.0)  # from before a re-timing
    check_characters(with_characters(word))
    fresh = dict(word, characters=character_times("hello", 1.0, 1.5))
    assert with_characters(fresh) is fresh


# --- per-segment decoder fields ---------------------------------------------------------


def test_segments_and_words_carry_decoder_fields(transcriber, jfk):
    segments, _ = run(transcriber, jfk, offset=5.0)
    for seg in segments:
        assert isinstance(seg["seek"], int) and seg["seek"] >= 500  # the 5 s offset, in frames
        assert seg["tokens"] and all(isinstance(t, int) for t in seg["tokens"])
        assert seg["temperature"] == 0.0
        assert seg["avg_logprob"] <= 0 and seg["compression_ratio"] > 0
        assert 0 <= seg["no_speech_prob"] <= 1
        assert seg["type"] == "speech"
        for w in seg["words"]:
            assert 0 <= w["confidence"] <= 1 and w["logprob"] <= 0
            assert w["logprob"] == pytest.approx(math.log(max(w["confidence"], 1e-10)), abs=1e-3)
            assert w["type"] == "word" and w["timing"] == "whisper"
            check_characters(w)


# --- seeded sampling --------------------------------------------------------------------


def test_same_seed_same_transcript(transcriber, jfk):
    first = text_and_times(run(transcriber, jfk, temperature=1.0, seed=1234)[0])
    run(transcriber, jfk, temperature=1.0, seed=99)  # the process's generators move on
    second = text_and_times(run(transcriber, jfk, temperature=1.0, seed=1234)[0])
    assert first == second


def test_different_seeds_sample_differently(transcriber, jfk):
    # Measured on jfk.flac with tiny.en at temperature 1.0: 5 different texts from 6 seeds.
    texts = {text_and_times(run(transcriber, jfk, temperature=1.0, seed=s)[0])[0] for s in range(4)}
    print(texts)
    assert len(texts) >= 2


# --- translation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spanish(tmp_path_factory):
    path = tmp_path_factory.mktemp("es") / "es.wav"
    sentence = "Buenos días. Hoy hace mucho calor y quiero beber un vaso de agua fría."
    subprocess.run(["espeak-ng", "-v", "es", "-w", str(path), sentence], check=True)
    return audio.decode(path).mono


def test_translate_writes_english(transcriber, spanish):
    segments, language = run(transcriber, spanish, model="base", task="translate")
    text = " ".join(s["text"] for s in segments).lower()
    print(language, text)  # es: "Good morning. Today I do a lot of calories and I want to drink…"
    assert language == "es"
    assert "good morning" in text and "water" in text
    assert "agua" not in text and "buenos" not in text


def test_english_only_model_cannot_translate(transcriber, spanish):
    with pytest.raises(StageError, match="tiny.en") as info:
        run(transcriber, spanish, task="translate")
    assert info.value.code == "model_cannot_translate"


def test_unknown_task_is_refused(transcriber, spanish):
    with pytest.raises(StageError) as info:
        run(transcriber, spanish, model="tiny.en", task="summarise")
    assert info.value.code == "invalid_option"
