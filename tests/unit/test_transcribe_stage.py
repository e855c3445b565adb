"""transcribe and merge stage functions with the real tiny.en model on real speech."""

import pytest

from dalston.engines import get_engine
from dalston.engines.forced_align import PocketsphinxAligner
from dalston.errors import StageError
from dalston.stages import align, merge, prepare, transcribe
from dalston.storage import keys
from dalston.storage.local import LocalStore
from tests.audio_helpers import JFK_TEXT, wer
from tests.engine_helpers import transcribe_options
from tests.fakes import FakeTranscriber


@pytest.fixture(scope="module")
def prepared(fixtures_dir, tmp_path_factory):
    store = LocalStore(tmp_path_factory.mktemp("store"))
    store.put_file(keys.source("jfk"), fixtures_dir / "jfk.flac")
    prepare.decode_and_plan("jfk", store, chunk_seconds=120)
    return store


def options(tmp_path, **extra):
    return transcribe_options("tiny.en", tmp_path, **extra)


def test_chunk_transcript_on_job_timeline(prepared, tmp_path):
    progress = []
    result = transcribe.transcribe_chunk(
        "jfk",
        0,
        prepared,
        get_engine("transcriber", "faster_whisper"),
        options(tmp_path),
        on_progress=progress.append,
    )
    assert not prepared.exists(keys.chunk_transcript("jfk", 0))  # its row holds it
    text = " ".join(s["text"] for s in result["segments"])
    assert wer(JFK_TEXT, text) <= 0.10, text
    words = [w for s in result["segments"] for w in s["words"]]
    assert len(words) >= 20
    assert all(w["start"] <= w["end"] for w in words)
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:])), "words in time order"
    assert progress and progress[-1] > 0.5
    assert result["language"] == "en"


def test_merge_builds_one_transcript(prepared, tmp_path):
    chunk = transcribe.transcribe_chunk(
        "jfk", 0, prepared, get_engine("transcriber", "faster_whisper"), options(tmp_path)
    )
    manifest = prepare.load_manifest("jfk", prepared)
    transcript = merge.stitch(manifest, [chunk], None)
    assert wer(JFK_TEXT, transcript["text"]) <= 0.10
    assert [s["id"] for s in transcript["segments"]] == list(range(len(transcript["segments"])))
    assert transcript["words"] == [w for s in transcript["segments"] for w in s["words"]]
    assert transcript["language"] == "en" and transcript["duration"] == pytest.approx(
        11.0, abs=0.05
    )


SEGMENT_FIELDS = {"seek", "tokens", "temperature", "avg_logprob", "compression_ratio"}
WORD_FIELDS = {"text", "start", "end", "confidence", "logprob", "type", "timing", "characters"}


def test_decoder_fields_survive_align_and_merge(prepared, tmp_path):
    """What the OpenAI verbose_json and ElevenLabs responses need reaches the transcript."""
    chunk = transcribe.transcribe_chunk(
        "jfk",
        0,
        prepared,
        get_engine("transcriber", "faster_whisper"),
        options(tmp_path, task="transcribe"),
    )
    assert chunk["task"] == "transcribe"
    aligned = align.align_chunk("jfk", 0, chunk, prepared, PocketsphinxAligner())
    manifest = prepare.load_manifest("jfk", prepared)
    transcript = merge.stitch(manifest, [aligned], None)
    for seg in transcript["segments"]:
        assert SEGMENT_FIELDS | {"no_speech_prob", "type", "id"} <= set(seg), seg.keys()
        assert isinstance(seg["seek"], int) and all(isinstance(t, int) for t in seg["tokens"])
    words = transcript["words"]
    assert words and all(WORD_FIELDS <= set(w) for w in words)
    assert sum(w["timing"] == "forced_alignment" for w in words) >= 0.8 * len(words)
    for w in words:
        assert "".join(c["text"] for c in w["characters"]) == w["text"]
        assert all(w["start"] <= c["start"] <= c["end"] <= w["end"] for c in w["characters"])


def test_english_only_model_refuses_other_languages(prepared, tmp_path):
    with pytest.raises(StageError, match="English-only"):
        transcribe.transcribe_chunk(
            "jfk",
            0,
            prepared,
            get_engine("transcriber", "faster_whisper"),
            options(tmp_path, language="de"),
        )


def test_english_only_model_cannot_translate(prepared, tmp_path):
    with pytest.raises(StageError, match="cannot translate") as info:
        transcribe.transcribe_chunk(
            "jfk",
            0,
            prepared,
            get_engine("transcriber", "faster_whisper"),
            options(tmp_path, task="translate"),
        )
    assert info.value.code == "model_cannot_translate"


def test_malformed_engine_output_is_a_stage_error(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("DALSTON_FAKE_BEHAVIOUR", "garbage")
    with pytest.raises(StageError, match="malformed"):
        transcribe.transcribe_chunk(
            "jfk", 0, prepared, FakeTranscriber(), options(tmp_path, task="transcribe")
        )
