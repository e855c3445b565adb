"""The hub-only engines (pyannote, whisperX alignment, whisperx-full) up to the library boundary.

Their weights exist only on the Hugging Face hub and PyPI's torchaudio is a CUDA build
(models.md §4, §6), so the libraries cannot run here. Stand-in ``whisperx``,
``pyannote.audio``, ``torch`` and ``pandas`` modules go into ``sys.modules``; the tests check
that the adapters call the real libraries' APIs (whisperX 3.x, pyannote.audio 3.x and 4.x)
with the right arguments, convert what they return into Dalston's shapes, and fail with
``model_not_available`` naming the setting to fix when the library or the weights are missing.
"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from dalston import audio, engines
from dalston.config import Settings
from dalston.engines import get_engine
from dalston.engines import pyannote as pyannote_engine
from dalston.engines import whisperx as whisperx_engine
from dalston.engines.base import ModelSpec, PipelineOptions, SpeakerOptions
from dalston.engines.whisper_timing import WhisperTimings
from dalston.errors import ModelNotAvailable
from dalston.options import JobOptions
from dalston.stages import align as align_stage
from dalston.stages import merge as merge_stage
from dalston.stages import whisperx_full as whisperx_full_stage
from dalston.stages.context import StageJob
from dalston.storage import keys
from dalston.storage.local import LocalStore
from tests.fakes import FakeFullPipeline

SR = 16000


# -- stand-in libraries ----------------------------------------------------------------------


class FakeWhisperX(types.ModuleType):
    """``whisperx`` 3.x's public functions, recording their calls.

    ``align`` behaves like whisperX's: the text is split on spaces, each word gets times
    unless its text is in ``untimed``, and the times are relative to the audio passed in.
    """

    def __init__(self, word_seconds: float = 0.25, untimed=(), sentences: bool = False):
        super().__init__("whisperx")
        self.calls: list[tuple] = []
        self.word_seconds = word_seconds
        self.untimed = set(untimed)
        self.sentences = sentences
        self.align_model_error: Exception | None = None
        self.asr_segments = [{"start": 0.5, "end": 2.0, "text": " Hello there, world."}]

    def load_align_model(self, language_code, device, model_name=None, model_dir=None):
        self.calls.append(("load_align_model", language_code, device, model_name, model_dir))
        if self.align_model_error:
            raise self.align_model_error
        return f"wav2vec2-{language_code}", {"language": language_code, "type": "huggingface"}

    def align(self, transcript, model, metadata, audio, device, return_char_alignments=False, **kw):
        self.calls.append(("align", list(transcript), model, metadata, audio, device, kw))
        assert return_char_alignments is False
        segments = []
        for seg in transcript:
            words, t = [], seg["start"] + 0.1
            for token in seg["text"].strip().split(" "):
                word = {"word": token}
                if token not in self.untimed:
                    word.update(start=round(t, 3), end=round(t + self.word_seconds, 3), score=0.9)
                t += self.word_seconds + 0.05
                words.append(word)
            if self.sentences and len(words) > 1:  # whisperX splits segments at sentences
                halves = [words[:1], words[1:]]
                segments += [
                    {"start": seg["start"], "end": seg["end"], "text": "", "words": h}
                    for h in halves
                ]
            else:
                segments.append(
                    {"start": seg["start"], "end": seg["end"], "text": seg["text"], "words": words}
                )
        return {"segments": segments, "word_segments": [w for s in segments for w in s["words"]]}

    def load_model(self, whisper_arch, device, compute_type="float16", language=None, **kw):
        self.calls.append(("load_model", whisper_arch, device, compute_type, language, kw))
        return FakeAsr(self)

    def assign_word_speakers(self, diarize_df, transcript_result, fill_nearest=False):
        self.calls.append(("assign_word_speakers", diarize_df))
        for seg in transcript_result["segments"]:
            for word in seg["words"]:
                if "start" in word:
                    middle = (word["start"] + word["end"]) / 2
                    hit = [t for t in diarize_df if t["start"] <= middle <= t["end"]]
                    if hit:
                        word["speaker"] = hit[0]["speaker"]
            seg["speaker"] = next((w["speaker"] for w in seg["words"] if "speaker" in w), None)
        return transcript_result


class FakeAsr:
    def __init__(self, wx: FakeWhisperX):
        self.wx = wx

    def transcribe(self, audio, batch_size=None, language=None, **kw):
        self.wx.calls.append(("transcribe", audio, batch_size, language))
        return {"segments": [dict(s) for s in self.wx.asr_segments], "language": language or "en"}


class Segment:
    def __init__(self, start, end):
        self.start, self.end = start, end


class Annotation:
    """pyannote.core.Annotation's ``itertracks(yield_label=True)``."""

    def __init__(self, tracks):
        self.tracks = tracks

    def itertracks(self, yield_label=False):
        assert yield_label
        for i, (start, end, label) in enumerate(self.tracks):
            yield Segment(start, end), f"track{i}", label


def fake_pyannote(monkeypatch, *, v4=True, result=None, load_error=None, cuda=False):
    """Install fake ``torch`` and ``pyannote.audio``; returns a record of the calls."""
    calls: dict = {"from_pretrained": [], "call": [], "to": []}
    annotation = Annotation(result or [(0.0, 1.5, "B"), (1.5, 3.0, "A"), (3.2, 4.0, "B")])

    class FakePipeline:
        def __call__(self, file, **kwargs):
            calls["call"].append((file, kwargs))
            return types.SimpleNamespace(speaker_diarization=annotation) if v4 else annotation

        def to(self, device):
            calls["to"].append(device)
            return self

    if v4:

        def from_pretrained(cls, checkpoint, hparams_file=None, token=None, cache_dir=None):
            calls["from_pretrained"].append((checkpoint, {"token": token}))
            if load_error:
                raise load_error
            return None if load_error is False else FakePipeline()

    else:

        def from_pretrained(
            cls, checkpoint_path, hparams_file=None, use_auth_token=None, cache_dir=None
        ):
            calls["from_pretrained"].append((checkpoint_path, {"use_auth_token": use_auth_token}))
            if load_error:
                raise load_error
            return None if load_error is False else FakePipeline()

    pipeline_cls = type("Pipeline", (), {"from_pretrained": classmethod(from_pretrained)})
    torch = types.ModuleType("torch")
    torch.from_numpy = lambda array: array
    torch.cuda = types.SimpleNamespace(is_available=lambda: cuda)
    torch.device = lambda name: ("device", name)
    pyannote = types.ModuleType("pyannote")
    pyannote_audio = types.ModuleType("pyannote.audio")
    pyannote_audio.Pipeline = pipeline_cls
    pyannote.audio = pyannote_audio
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "pyannote", pyannote)
    monkeypatch.setitem(sys.modules, "pyannote.audio", pyannote_audio)
    return calls


@pytest.fixture
def no_hub_settings(monkeypatch):
    for name in ("DALSTON_WHISPERX_ALIGN_MODEL", "DALSTON_PYANNOTE_PIPELINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def wx(monkeypatch, no_hub_settings):
    module = FakeWhisperX()
    monkeypatch.setitem(sys.modules, "whisperx", module)
    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(DataFrame=list))
    return module


def whisper_segment(offset: float) -> dict:
    """A segment as faster-whisper gives it, on the job timeline (the chunk starts at offset)."""
    words = [("Hello", 0.5, 0.9), ("there,", 0.9, 1.3), ("world.", 1.3, 2.0)]
    return {
        "start": offset + 0.5,
        "end": offset + 2.0,
        "text": "Hello there, world.",
        "words": [
            {
                "text": t,
                "start": offset + a,
                "end": offset + b,
                "confidence": 0.8,
                "timing": "whisper",
            }
            for t, a, b in words
        ],
    }


# -- whisperX alignment ---------------------------------------------------------------------


def test_whisperx_aligner_calls_the_library_with_chunk_relative_times(wx, tmp_path):
    samples = np.zeros(4 * SR, dtype=np.float32)
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    (seg,) = aligner.align(samples, 100.0, [whisper_segment(100.0)], language="en")
    assert wx.calls[0] == ("load_align_model", "en", "cpu", None, str(tmp_path))
    _, transcript, model, metadata, audio_arg, device, _kw = wx.calls[1]
    assert transcript == [{"start": 0.5, "end": 2.0, "text": "Hello there, world."}]
    assert model == "wav2vec2-en" and metadata["language"] == "en" and device == "cpu"
    assert audio_arg.dtype == np.float32 and len(audio_arg) == len(samples)
    # whisperX's chunk-relative times come back on the job timeline
    assert [(w["text"], w["start"], w["end"], w["timing"]) for w in seg["words"]] == [
        ("Hello", 100.6, 100.85, "wav2vec2"),
        ("there,", 100.9, 101.15, "wav2vec2"),
        ("world.", 101.2, 101.45, "wav2vec2"),
    ]
    assert seg["start"] == 100.5 and seg["end"] == 102.0 and seg["text"] == "Hello there, world."
    assert all(w["confidence"] == 0.8 for w in seg["words"])  # Whisper's probability is kept


def test_words_whisperx_cannot_time_keep_whispers_time(wx, tmp_path):
    wx.untimed = {"there,"}
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    (seg,) = aligner.align(np.zeros(3 * SR, dtype=np.float32), 0.0, [whisper_segment(0.0)])
    there = seg["words"][1]
    assert (there["start"], there["end"], there["timing"]) == (0.9, 1.3, "whisper")
    assert [w["timing"] for w in seg["words"]] == ["wav2vec2", "whisper", "wav2vec2"]


def test_sentence_splits_map_back_to_whispers_words(wx, tmp_path):
    wx.sentences = True
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    (seg,) = aligner.align(np.zeros(3 * SR, dtype=np.float32), 0.0, [whisper_segment(0.0)])
    assert len(seg["words"]) == 3 and {w["timing"] for w in seg["words"]} == {"wav2vec2"}


def test_word_times_by_letters_for_languages_without_spaces():
    words = [{"text": "東京"}, {"text": "です"}]
    chars = [
        {"word": c, "start": 1.0 + i * 0.2, "end": 1.1 + i * 0.2} for i, c in enumerate("東京です")
    ]
    assert whisperx_engine.word_times(words, chars) == [(1.0, 1.3), (1.4, pytest.approx(1.7))]
    # letters that do not match (a segment whisperX gave up on) keep nothing
    assert whisperx_engine.word_times(words, []) == [None, None]


def test_a_segment_without_words_is_left_alone(wx, tmp_path):
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    seg = {"start": 0.0, "end": 1.0, "text": "", "words": []}
    assert aligner.align(np.zeros(SR, dtype=np.float32), 0.0, [seg]) == [seg]
    assert [c[0] for c in wx.calls] == ["load_align_model"]


def test_align_model_setting_and_one_load_per_language(wx, tmp_path, monkeypatch):
    monkeypatch.setenv("DALSTON_WHISPERX_ALIGN_MODEL", "en=/models/w2v-en, fr=org/w2v-fr")
    aligner = whisperx_engine.WhisperXAligner(
        Settings.from_env(), device="cuda", model_dir=tmp_path
    )
    for language in ("en", "fr", "en", "de"):
        aligner.load(language)
    loads = [c[1:4] for c in wx.calls if c[0] == "load_align_model"]
    assert loads == [
        ("en", "cuda", "/models/w2v-en"),
        ("fr", "cuda", "org/w2v-fr"),
        ("de", "cuda", None),
    ]
    monkeypatch.setenv("DALSTON_WHISPERX_ALIGN_MODEL", "/models/one-model")
    setting = Settings.from_env().whisperx_align_model
    assert whisperx_engine.align_model_name("pt", setting) == "/models/one-model"


def test_missing_whisperx_names_the_gpu_extra_and_settings(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "whisperx", None)  # import whisperx → ImportError
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    with pytest.raises(ModelNotAvailable) as err:
        aligner.align(np.zeros(SR, dtype=np.float32), 0.0, [whisper_segment(0.0)])
    message = err.value.message
    assert err.value.code == "model_not_available"
    for setting in ("dalston[gpu]", "DALSTON_WHISPERX_ALIGN_MODEL", "DALSTON_MODEL_DIR"):
        assert setting in message, message
    assert "HF_HUB_OFFLINE" in message and "HF_TOKEN" in message


def test_unreachable_align_weights_name_the_setting(wx, tmp_path):
    # what whisperX raises when the hub cannot be reached and nothing is cached
    wx.align_model_error = ValueError(
        'The chosen align_model "facebook/wav2vec2-base-960h" could not be found in huggingface'
    )
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    with pytest.raises(ModelNotAvailable) as err:
        aligner.align(np.zeros(SR, dtype=np.float32), 0.0, [whisper_segment(0.0)])
    assert "language 'en'" in err.value.message
    assert "DALSTON_WHISPERX_ALIGN_MODEL" in err.value.message
    assert "could not be found in huggingface" in err.value.message


# -- the align stage and the request's align engine -----------------------------------------


def _chunk_store(tmp_path, language: str, offset: float = 5.0) -> tuple[LocalStore, dict]:
    store = LocalStore(tmp_path / "store")
    key = keys.chunk_audio("job", 0)
    store.put_bytes(key, audio.to_wav_bytes(np.zeros(3 * SR, dtype=np.float32)))
    manifest = {"chunks": [{"index": 0, "start": offset, "end": offset + 3, "key": key}]}
    store.put_bytes(keys.manifest("job"), json.dumps(manifest).encode())
    chunk = {
        "index": 0,
        "channel": None,
        "language": language,
        "language_probability": 0.9,
        "segments": [whisper_segment(offset)],
    }
    return store, chunk


def test_align_stage_passes_the_chunk_language_to_whisperx(wx, tmp_path):
    store, chunk = _chunk_store(tmp_path, "fr")
    aligner = whisperx_engine.WhisperXAligner(device="cpu", model_dir=tmp_path)
    out = align_stage.align_chunk("job", 0, chunk, store, aligner)
    assert wx.calls[0][:2] == ("load_align_model", "fr")
    assert {w["timing"] for s in out["segments"] for w in s["words"]} == {"wav2vec2"}


def test_whisper_align_engine_keeps_whispers_timings_without_reading_audio(tmp_path):
    store, chunk = _chunk_store(tmp_path, "en")
    store.delete(keys.chunk_audio("job", 0))  # nothing but the transcript is needed
    out = align_stage.align_chunk("job", 0, chunk, store, get_engine("aligner", "whisper"))
    words = [w for s in out["segments"] for w in s["words"]]
    assert isinstance(get_engine("aligner", "whisper"), WhisperTimings)
    assert [w["start"] for w in words] == [5.5, 5.9, 6.3]
    assert {w["timing"] for w in words} == {"whisper"}


def test_registries_name_the_new_engines(monkeypatch):
    assert type(get_engine("aligner", "whisperx")).__name__ == "WhisperXAligner"
    assert type(get_engine("diarizer", "pyannote")).__name__ == "PyannoteDiarizer"
    assert type(get_engine("pipeline", "whisperx-full")).__name__ == "WhisperXFull"
    engines.register("pipeline", "whisperx-full", FakeFullPipeline)  # what a test fixture does
    try:
        assert isinstance(get_engine("pipeline", "whisperx-full"), FakeFullPipeline)
    finally:
        engines.unregister("pipeline", "whisperx-full")
    assert type(get_engine("pipeline", "whisperx-full")).__name__ == "WhisperXFull"
    with pytest.raises(ValueError):
        get_engine("aligner", "magic")


# -- pyannote --------------------------------------------------------------------------------


def test_pyannote_4_is_called_in_memory_and_turns_are_renumbered(monkeypatch, no_hub_settings):
    calls = fake_pyannote(monkeypatch, v4=True)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    samples = np.zeros(5 * SR, dtype=np.float64)
    turns = pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(
        samples, [{"start": 0, "end": 5}], SpeakerOptions(num_speakers=2)
    )
    assert calls["from_pretrained"] == [
        ("pyannote/speaker-diarization-community-1", {"token": "hf_test"})
    ]
    ((file, kwargs),) = calls["call"]
    assert file["sample_rate"] == 16000 and kwargs == {"num_speakers": 2}
    assert file["waveform"].shape == (1, len(samples)) and file["waveform"].dtype == np.float32
    assert calls["to"] == []  # no GPU here
    assert turns == [
        {"start": 0.0, "end": 1.5, "speaker": "SPEAKER_00"},
        {"start": 1.5, "end": 3.0, "speaker": "SPEAKER_01"},
        {"start": 3.2, "end": 4.0, "speaker": "SPEAKER_00"},
    ]


def test_pyannote_3_gets_use_auth_token_a_config_file_and_returns_an_annotation(
    monkeypatch, no_hub_settings, tmp_path
):
    calls = fake_pyannote(
        monkeypatch, v4=False, cuda=True, result=[(0.1234, 0.9, "x"), (2.0, 2.0, "y")]
    )
    (tmp_path / "config.yaml").write_text("pipeline: {}\n")
    monkeypatch.setenv("DALSTON_PYANNOTE_PIPELINE", str(tmp_path))
    turns = pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(
        np.zeros(SR, dtype=np.float32), None, SpeakerOptions(min_speakers=1, max_speakers=3)
    )
    assert calls["from_pretrained"] == [(str(tmp_path / "config.yaml"), {"use_auth_token": None})]
    assert calls["to"] == [("device", "cuda")]  # torch sees a GPU
    assert calls["call"][0][1] == {"min_speakers": 1, "max_speakers": 3}
    # times rounded to the millisecond; a zero-length turn is dropped
    assert turns == [{"start": 0.123, "end": 0.9, "speaker": "SPEAKER_00"}]


def test_pyannote_3_default_pipeline_is_3_1(monkeypatch, no_hub_settings):
    calls = fake_pyannote(monkeypatch, v4=False)
    pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(np.zeros(SR, dtype=np.float32))
    assert calls["from_pretrained"][0][0] == "pyannote/speaker-diarization-3.1"


def _assert_names_pyannote_settings(message: str) -> None:
    assert "DALSTON_PYANNOTE_PIPELINE" in message and "HF_TOKEN" in message, message


@pytest.mark.parametrize(
    "load_error, says",
    [
        (FileNotFoundError("Cannot find the requested files in the local cache"), "local cache"),
        (False, "refused"),  # pyannote returns None when the hub refuses a gated pipeline
    ],
)
def test_pyannote_without_weights_names_the_settings(
    monkeypatch, no_hub_settings, load_error, says
):
    fake_pyannote(monkeypatch, load_error=load_error)
    with pytest.raises(ModelNotAvailable) as err:
        pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(
            np.zeros(SR, dtype=np.float32)
        )
    assert err.value.code == "model_not_available" and says in err.value.message
    _assert_names_pyannote_settings(err.value.message)


def test_pyannote_local_directory_problems(monkeypatch, no_hub_settings, tmp_path):
    calls = fake_pyannote(monkeypatch)
    monkeypatch.setenv("DALSTON_PYANNOTE_PIPELINE", str(tmp_path / "missing"))
    with pytest.raises(ModelNotAvailable) as err:
        pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(
            np.zeros(SR, dtype=np.float32)
        )
    assert "does not exist" in err.value.message
    monkeypatch.setenv("DALSTON_PYANNOTE_PIPELINE", str(tmp_path))
    with pytest.raises(ModelNotAvailable) as err:
        pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(
            np.zeros(SR, dtype=np.float32)
        )
    assert "without a config.yaml" in err.value.message
    _assert_names_pyannote_settings(err.value.message)
    assert calls["from_pretrained"] == []


def test_missing_pyannote_names_the_gpu_extra_and_settings(monkeypatch, no_hub_settings):
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)
    with pytest.raises(ModelNotAvailable) as err:
        pyannote_engine.PyannoteDiarizer(Settings.from_env()).diarize(
            np.zeros(SR, dtype=np.float32)
        )
    assert "dalston[gpu]" in err.value.message
    _assert_names_pyannote_settings(err.value.message)


# -- whisperx-full ---------------------------------------------------------------------------


@pytest.fixture
def ct2_model(tmp_path):
    path = tmp_path / "whisper-small"
    path.mkdir()
    (path / "model.bin").write_bytes(b"")
    return str(path)


def test_whisperx_full_transcribes_aligns_diarizes_and_assigns_speakers(
    wx, monkeypatch, tmp_path, ct2_model
):
    calls = fake_pyannote(monkeypatch, result=[(0.0, 1.05, "spk_b"), (1.05, 3.0, "spk_a")])
    wx.untimed = {"there,"}
    samples = np.zeros(3 * SR, dtype=np.float64)
    progress = []
    result = whisperx_engine.WhisperXFull(Settings.from_env()).run(
        samples,
        PipelineOptions(
            model=ModelSpec(
                ct2_model, tmp_path, device="cuda", compute_type="float16", batch_size=16
            ),
            language=None,
            diarize=True,
            speakers=SpeakerOptions(num_speakers=2),
        ),
        on_progress=progress.append,
    )
    names = [c[0] for c in wx.calls]
    assert names == [
        "load_model", "transcribe", "load_align_model", "align", "assign_word_speakers",
    ]  # fmt: skip
    assert wx.calls[0] == (
        "load_model", ct2_model, "cuda", "float16", None, {"download_root": str(tmp_path)},
    )  # fmt: skip
    _, audio_arg, batch_size, language = wx.calls[1]
    assert audio_arg.dtype == np.float32 and batch_size == 16 and language is None
    assert wx.calls[2][1:3] == ("en", "cuda")  # the detected language's alignment model
    assert wx.calls[3][1] == [{"start": 0.5, "end": 2.0, "text": " Hello there, world."}]
    assert calls["call"][0][1] == {"num_speakers": 2}
    assert (
        wx.calls[4][1]
        == result["turns"]
        == [
            {"start": 0.0, "end": 1.05, "speaker": "SPEAKER_00"},
            {"start": 1.05, "end": 3.0, "speaker": "SPEAKER_01"},
        ]
    )
    (seg,) = result["segments"]
    assert (seg["start"], seg["end"], seg["text"], seg["speaker"]) == (
        0.5, 2.0, "Hello there, world.", "SPEAKER_00",
    )  # fmt: skip
    assert [
        (w["text"], w["start"], w["end"], w["timing"], w.get("speaker")) for w in seg["words"]
    ] == [
        ("Hello", 0.6, 0.85, "wav2vec2", "SPEAKER_00"),
        ("there,", 0.85, 1.2, "interpolated", None),  # untimed: between its neighbours
        ("world.", 1.2, 1.45, "wav2vec2", "SPEAKER_01"),
    ]
    assert result["language"] == "en" and progress[-1] == 1.0
    json.dumps(result)  # plain data only


def test_whisperx_full_english_only_model_and_no_diarization(wx, tmp_path, ct2_model):
    english = ct2_model + ".en"
    import shutil

    shutil.copytree(ct2_model, english)
    result = whisperx_engine.WhisperXFull(Settings.from_env()).run(
        np.zeros(SR, dtype=np.float32),
        PipelineOptions(model=ModelSpec(english, tmp_path), diarize=False),
    )
    assert wx.calls[0][4] == "en"  # whisperX sees only a path, so it is told the language
    assert result["turns"] == [] and "assign_word_speakers" not in [c[0] for c in wx.calls]


def test_whisperx_full_missing_library_or_weights_name_the_settings(
    wx, monkeypatch, tmp_path, ct2_model
):
    def broken(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    wx.load_model = broken
    with pytest.raises(ModelNotAvailable) as err:
        whisperx_engine.WhisperXFull(Settings.from_env()).run(
            np.zeros(SR, dtype=np.float32), PipelineOptions(model=ModelSpec(ct2_model, tmp_path))
        )
    for setting in ("DALSTON_WHISPERX_ALIGN_MODEL", "DALSTON_MODEL_DIR", "HF_HUB_OFFLINE"):
        assert setting in err.value.message
    assert "DALSTON_PYANNOTE_PIPELINE" in err.value.message
    monkeypatch.setitem(sys.modules, "whisperx", None)
    with pytest.raises(ModelNotAvailable) as err:
        whisperx_engine.WhisperXFull(Settings.from_env()).run(
            np.zeros(SR, dtype=np.float32), PipelineOptions(model=ModelSpec(ct2_model, tmp_path))
        )
    assert "dalston[gpu]" in err.value.message and "transcribe_engine=faster_whisper" in (
        err.value.message
    )


def test_whisperx_full_stage_writes_what_merge_reads(tmp_path):
    """The stand-in engine's output is what merge reads (its row's); merge assigns speakers."""
    store = LocalStore(tmp_path / "store")
    store.put_bytes(keys.prepared_audio("job"), audio.to_wav_bytes(np.zeros(4 * SR, "float32")))
    manifest = {
        "duration": 4.0,
        "audio_key": keys.prepared_audio("job"),
        "chunks": [{"index": 0, "start": 0.0, "end": 4.0, "channel": None, "key": "unused"}],
        "speech": [{"start": 0.0, "end": 4.0}],
        "warnings": [],
    }
    store.put_bytes(keys.manifest("job"), json.dumps(manifest).encode())
    transcript, turns = whisperx_full_stage.run_pipeline(
        "job", store, FakeFullPipeline(), PipelineOptions(ModelSpec("fake", tmp_path), diarize=True)
    )
    job = StageJob(
        id="job",
        part=0,
        options=JobOptions(model="tiny.en", transcribe_engine="whisperx-full"),
        settings=Settings.from_env(),
        inputs={0: transcript},
    )
    assert merge_stage.reads(job.options, 0) == ("whisperx_full", None)
    chunks = merge_stage.load_chunks(job, store, manifest)
    assert chunks == [transcript]
    final = merge_stage.stitch(
        manifest, chunks, None, turns=json.loads(store.get_bytes(keys.turns("job")))
    )
    assert [(s["text"], s["speaker"]) for s in final["segments"]] == [
        ("first", "SPEAKER_00"),
        ("second", "SPEAKER_01"),
    ]
    assert [s["id"] for s in final["speakers"]] == ["SPEAKER_00", "SPEAKER_01"]
