"""Model names: built-in offline models, hub names, paths."""

import hashlib

import pytest

from dalston.engines import models
from dalston.errors import ModelNotAvailable


@pytest.mark.parametrize("name", ["tiny.en", "base", "large-v3", "Systran/faster-whisper-small"])
def test_known_names(name):
    assert models.is_known_name(name)


@pytest.mark.parametrize(
    "name", ["", "nonexistent-model-xyz", "../etc", "/no/such/dir", "a/b/c", "x" * 300]
)
def test_unknown_names(name):
    assert not models.is_known_name(name)


def test_builtin_models_are_ready_offline(tmp_path):
    listed = {m["id"]: m for m in models.list_models(tmp_path, "tiny.en")}
    assert listed["tiny.en"]["ready"] and listed["base"]["ready"]
    assert listed["tiny.en"]["default"]
    assert not listed["large-v3"]["ready"]


def test_base_is_joined_once_and_checksummed(tmp_path):
    path = models.join_base(tmp_path)
    model_bin = path / "model.bin"
    assert model_bin.stat().st_size == models.BASE_SIZE
    digest = hashlib.sha256(model_bin.read_bytes()).hexdigest()
    assert digest == models.BASE_SHA256
    mtime = model_bin.stat().st_mtime_ns
    assert models.join_base(tmp_path) == path and model_bin.stat().st_mtime_ns == mtime


def test_missing_local_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotAvailable, match="model.bin"):
        models.resolve(str(tmp_path), tmp_path)


def test_hub_model_without_hub_access_fails_with_advice(tmp_path):
    from dalston.engines.faster_whisper import FasterWhisperTranscriber

    with pytest.raises(ModelNotAvailable, match="could not load model 'large-v3'.*HF_TOKEN"):
        FasterWhisperTranscriber().load("large-v3", tmp_path)
