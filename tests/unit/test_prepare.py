"""prepare: decoding every supported container, VAD, and the chunk plan."""

import json

import numpy as np
import pytest

from dalston import audio
from dalston.errors import InvalidAudio
from dalston.stages import prepare
from dalston.storage import keys
from dalston.storage.local import LocalStore
from tests.audio_helpers import FORMATS, encode, load, silence, write_multichannel_wav, write_wav


@pytest.fixture(scope="module")
def jfk(fixtures_dir):
    return load(fixtures_dir / "jfk.flac")


def _best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 4000) -> float:
    n = min(len(a), len(b)) - 2 * max_lag
    ref = a[max_lag : max_lag + n]
    spectrum = np.fft.rfft(b[: n + 2 * max_lag], 2 * len(b)) * np.conj(np.fft.rfft(ref, 2 * len(b)))
    lag = int(np.argmax(np.fft.irfft(spectrum)[: 2 * max_lag + 1]))
    return float(np.corrcoef(ref, b[lag : lag + n])[0, 1])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_decodes_every_container_to_16k_mono(fmt, jfk, tmp_path):
    path = encode(jfk, tmp_path / f"jfk{FORMATS[fmt][2]}", fmt)
    decoded = audio.decode(path)
    assert decoded.channels.shape[0] == 1
    assert abs(decoded.duration - 11.0) < 0.1
    # Same speech after a lossy round trip (codec delay allowed): strongly correlated.
    assert (
        _best_correlation(jfk, decoded.mono) > 0.9
    ), f"{fmt}: decoded audio does not match the source"


def test_keeps_original_channels(fixtures_dir):
    decoded = audio.decode(fixtures_dir / "stereo_diarization.wav")
    assert decoded.channels.shape[0] == 2
    assert decoded.probe.channels == 2
    left, right = decoded.channels
    assert np.abs(left - right).mean() > 0.01, "the two channels carry different speakers"


@pytest.mark.parametrize(
    "content", [b"this is not audio at all\n" * 20, b"", b"RIFF\x24\x00\x00\x00WAVEfmt "]
)
def test_probe_refuses_non_audio(content, tmp_path):
    path = tmp_path / "fake.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        audio.probe(path)


def test_vad_finds_no_speech_in_silence():
    assert prepare.find_speech(silence(2.0)) == []


def test_vad_finds_speech(jfk):
    regions = prepare.find_speech(jfk)
    assert regions and regions[0]["start"] < 1.0 and regions[-1]["end"] > 9.5


def test_plan_short_audio_is_one_chunk():
    speech = [{"start": 0.3, "end": 4.0}, {"start": 5.0, "end": 10.0}]
    assert prepare.plan_chunks(speech, 11.0, target=120) == [(0.0, 11.0)]


def _blocks(total: float, speech: float = 9.0, pause: float = 1.5):
    out, t = [], 0.0
    while t + speech <= total:
        out.append({"start": t, "end": t + speech})
        t += speech + pause
    return out


def test_groups_follow_faster_whispers_batching_rule():
    groups = prepare.group_speech(_blocks(110.0))  # ten 9 s regions
    assert [len(g) for g in groups] == [3, 3, 3, 1], "at most 30 s of speech per window"


def test_plan_cuts_between_windows_on_vad_frames():
    speech = _blocks(600.0)
    spans = prepare.plan_chunks(speech, 600.0, target=120)
    assert len(spans) >= 4
    assert spans[0][0] == 0.0 and spans[-1][1] == 600.0
    windows = prepare.group_speech(speech)
    edges = [(a[-1]["end"], b[0]["start"]) for a, b in zip(windows, windows[1:])]
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert e1 == s2, "chunks are contiguous"
        assert any(
            lo < e1 < hi for lo, hi in edges
        ), f"cut at {e1} is not in a pause between windows"
        assert round(e1 * 16000) % 512 == 0, "cuts fall on VAD frames"
    assert all(e - s <= 120 for s, e in spans)


def test_one_window_longer_than_the_target_is_one_chunk():
    speech = [{"start": 0.0, "end": 29.0}, {"start": 31.0, "end": 60.0}]
    assert prepare.plan_chunks(speech, 60.0, target=20) == [(0.0, 29.984), (29.984, 60.0)]


def test_plan_nothing_for_no_speech():
    assert prepare.plan_chunks([], 10.0, target=120) == []


def test_run_writes_manifest_audio_and_chunks(jfk, tmp_path):
    store = LocalStore(tmp_path / "store")
    long = np.concatenate([np.concatenate([jfk, silence(2.0)]) for _ in range(6)])
    src = write_wav(long, tmp_path / "in.wav")
    store.put_file(keys.source("j1"), src)
    manifest = prepare.decode_and_plan("j1", store, chunk_seconds=15)
    assert manifest == json.loads(store.get_bytes(keys.manifest("j1")))
    assert abs(manifest["duration"] - len(long) / 16000) < 0.01
    assert len(manifest["chunks"]) >= 2, manifest["chunks"]
    assert [c["end"] for c in manifest["chunks"][:-1]] == [
        c["start"] for c in manifest["chunks"][1:]
    ]
    for chunk in manifest["chunks"]:
        samples = audio.read_wav_bytes(store.get_bytes(chunk["key"]))
        assert abs(len(samples) / 16000 - (chunk["end"] - chunk["start"])) < 0.01
    assert manifest["channel_keys"] == []
    assert audio.read_wav_bytes(store.get_bytes(manifest["audio_key"])).size == len(long)


def test_the_first_chunk_is_handed_on_while_the_rest_is_decoded(jfk, tmp_path, monkeypatch):
    """On a long file chunk 0 is stored and handed to ``on_first_chunk`` mid-decode: the
    same chunk, the same bytes, as the plan made without it."""
    long = np.concatenate([np.concatenate([jfk, silence(2.0)]) for _ in range(12)])
    src = write_wav(long, tmp_path / "in.wav")
    plain, early = LocalStore(tmp_path / "plain"), LocalStore(tmp_path / "early")
    for store in (plain, early):
        store.put_file(keys.source("j"), src)
    expected = prepare.decode_and_plan("j", plain, chunk_seconds=30)
    decoded_when_sent = []
    blocks = audio.BlockDecoder.blocks

    def counted(self):
        for block in blocks(self):
            counted.samples = self.samples
            yield block

    counted.samples = 0
    monkeypatch.setattr(audio.BlockDecoder, "blocks", counted)

    def on_first_chunk(chunk):
        assert not early.exists(keys.manifest("j")), "handed on before the plan is written"
        assert json.loads(early.get_bytes(keys.first_chunk("j"))) == chunk
        decoded_when_sent.append(counted.samples)
        sent.append((chunk, early.get_bytes(chunk["key"])))

    sent = []
    manifest = prepare.decode_and_plan("j", early, chunk_seconds=30, on_first_chunk=on_first_chunk)
    assert len(sent) == 1 and len(manifest["chunks"]) >= 4
    chunk, data = sent[0]
    assert manifest == expected
    assert chunk == expected["chunks"][0]
    assert data == plain.get_bytes(expected["chunks"][0]["key"])
    assert decoded_when_sent[0] < len(long) / 2, "sent with most of the file still to decode"
    assert prepare.load_chunk("j", 0, early) == chunk


def test_run_stores_each_channel_of_multichannel_audio(jfk, tmp_path):
    store = LocalStore(tmp_path / "store")
    src = write_multichannel_wav([jfk, silence(11.0), jfk[::-1].copy()], tmp_path / "three.wav")
    store.put_file(keys.source("j3"), src)
    manifest = prepare.decode_and_plan("j3", store, chunk_seconds=120)
    assert manifest["channels"] == 3
    assert manifest["channel_keys"] == [keys.channel_audio("j3", c) for c in range(3)]


def test_run_truncated_wav_keeps_what_is_there_and_warns(jfk, tmp_path):
    store = LocalStore(tmp_path / "store")
    data = write_wav(jfk, tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    store.put_file(keys.source("jt"), tmp_path / "cut.wav")
    manifest = prepare.decode_and_plan("jt", store, chunk_seconds=120)
    assert 5.0 < manifest["duration"] < 6.0
    assert any("ends early" in w for w in manifest["warnings"])


def test_run_garbage_raises_invalid_audio(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes(keys.source("jg"), b"hello, I am a text file pretending to be audio\n" * 50)
    with pytest.raises(InvalidAudio, match="could not decode"):
        prepare.decode_and_plan("jg", store, chunk_seconds=120)


def test_per_channel_plans_chunks_for_each_channel(jfk, tmp_path):
    store = LocalStore(tmp_path / "store")
    src = write_multichannel_wav([jfk, silence(11.0), jfk], tmp_path / "three.wav")
    store.put_file(keys.source("pc"), src)
    manifest = prepare.decode_and_plan("pc", store, chunk_seconds=120, per_channel=True)
    assert [c["channel"] for c in manifest["chunks"]] == [
        0,
        2,
    ], "a silent channel has nothing to transcribe"
    for chunk in manifest["chunks"]:
        assert (
            abs(len(audio.read_wav_bytes(store.get_bytes(chunk["key"]))) / 16000 - chunk["end"])
            < 0.01
        )


def test_per_channel_refuses_mono(jfk, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put_file(keys.source("pm"), write_wav(jfk, tmp_path / "mono.wav"))
    with pytest.raises(InvalidAudio, match="2 to 8 channels"):
        prepare.decode_and_plan("pm", store, chunk_seconds=120, per_channel=True)


def test_a_single_chunk_is_the_prepared_audio_not_a_copy(jfk, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes(keys.source("j1c"), encode(jfk, tmp_path / "jfk.flac", "flac").read_bytes())
    manifest = prepare.decode_and_plan("j1c", store, chunk_seconds=120)
    (chunk,) = manifest["chunks"]
    assert chunk["key"] == manifest["audio_key"] == keys.prepared_audio("j1c")
    assert not [k for k in store.list_keys("jobs/j1c/") if "/prepare/chunks/" in k]
    samples = audio.read_wav_bytes(store.get_bytes(chunk["key"]))
    assert abs(len(samples) / 16000 - (chunk["end"] - chunk["start"])) < 0.01


def test_a_source_that_is_the_prepared_wav_already_is_not_copied(jfk, tmp_path):
    """16 kHz mono PCM16 WAV with the canonical header (an ElevenLabs pcm_s16le_16 upload)."""
    store = LocalStore(tmp_path / "store")
    store.put_bytes(keys.source("j1w"), audio.to_wav_bytes(jfk))
    manifest = prepare.decode_and_plan("j1w", store, chunk_seconds=120)
    (chunk,) = manifest["chunks"]
    assert chunk["key"] == manifest["audio_key"] == keys.source("j1w")
    assert not store.exists(keys.prepared_audio("j1w"))
    assert audio.read_wav_bytes(store.get_bytes(chunk["key"])).size == len(jfk)
    # A WAV at another rate is decoded and stored as the prepared audio.
    store.put_bytes(keys.source("j2w"), audio.to_wav_bytes(jfk, sample_rate=8000))
    other = prepare.decode_and_plan("j2w", store, chunk_seconds=120)
    assert other["audio_key"] == keys.prepared_audio("j2w") and store.exists(other["audio_key"])
