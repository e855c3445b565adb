"""A corpus of bad inputs across the three API families: each answers a 4xx with a code in
its family's error shape, never a 500; and no failed submission leaves an object behind.

The cases include the ones an operator found answering 500 or a wrong 503: a deeply nested
JSON value (``"[" * 5000``) in native ``vocabulary`` and in ElevenLabs ``keyterms``,
``webhook_metadata``, ``additional_formats`` and ``entity_detection``; a NUL byte in a job
id, a cursor or a file name. The 12-hour silent FLAC is refused at the edge with 413
``audio_too_long`` from its header (``DALSTON_MAX_AUDIO_SECONDS``, default 10 h).
"""

from __future__ import annotations

import io
import uuid

import av
import numpy as np
import pytest

from dalston.app import create_app

NESTED = "[" * 5000
NATIVE = {"Prefer": "respond-async"}
OPENAI_URL = "/openai/v1/audio/transcriptions"
EL_URL = "/v1/speech-to-text"
URL = "/v1/audio/transcriptions"


def wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        t = np.arange(int(seconds * rate)) / rate
        w.writeframes((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())
    return out.getvalue()


def silent_flac(path, hours: float, rate: int = 8000):
    """``hours`` of silence as FLAC: a few MB (constant subframes), seconds to write."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        zeros = np.zeros((1, rate * 60), dtype=np.int16)
        for _ in range(int(hours * 60)):
            frame = av.AudioFrame.from_ndarray(zeros, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def app(postgres_url, redis_url, store_dir):
    return create_app(
        {
            "DALSTON_DATABASE_URL": postgres_url,
            "DALSTON_STORAGE_DIR": str(store_dir),
            "DALSTON_MAX_UPLOAD_MB": "20",
            "DALSTON_SYNC_TIMEOUT": "0.5",
            "DALSTON_REQUIRE_AUTH": "false",  # not about keys (tests/api/test_keys*.py are)
            "DALSTON_OPENAI_SYNC_TIMEOUT": "0.5",
        }
    )


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def code_of(family: str, body: dict) -> str:
    """The machine-readable code, checking the family's error shape on the way."""
    if family == "elevenlabs":
        assert set(body) == {"detail"}, body
        assert {"type", "code", "message", "status"} <= set(body["detail"]), body
        return body["detail"]["code"]
    assert set(body) == {"error"}, body
    if family == "openai":
        assert {"message", "type", "param", "code"} == set(body["error"]), body
    else:
        assert body["error"]["message"], body
    return body["error"]["code"]


def files(content: bytes | None = None, name: str = "a.wav"):
    return {"file": (io.BytesIO(wav() if content is None else content), name)}


# (id, family, method, path, form (a callable: fresh file objects per run), query, headers)
CASES = [
    # -- native --------------------------------------------------------------------------
    ("native-vocab-nested", "native", "POST", URL, lambda: {**files(), "vocabulary": NESTED}),
    ("native-vocab-not-json", "native", "POST", URL, lambda: {**files(), "vocabulary": "[1,"}),
    ("native-vocab-huge", "native", "POST", URL, lambda: {**files(), "vocabulary": "x" * 900_000}),
    ("native-no-file", "native", "POST", URL, lambda: {"model": "tiny.en"}),
    ("native-empty-file", "native", "POST", URL, lambda: files(b"")),
    ("native-not-audio", "native", "POST", URL, lambda: files(b"hello world" * 100)),
    ("native-nul-filename", "native", "POST", URL, lambda: files(name="a\x00.wav")),
    ("native-nul-field", "native", "POST", URL, lambda: {**files(), "language": "e\x00n"}),
    ("native-beam-text", "native", "POST", URL, lambda: {**files(), "beam_size": "wide"}),
    ("native-beam-huge", "native", "POST", URL, lambda: {**files(), "beam_size": "9" * 400}),
    ("native-speakers-neg", "native", "POST", URL, lambda: {**files(), "num_speakers": "-3"}),
    ("native-url-private", "native", "POST", URL, lambda: {"audio_url": "http://127.0.0.1/a"}),
    ("native-url-scheme", "native", "POST", URL, lambda: {"audio_url": "file:///etc/passwd"}),
    ("native-url-huge", "native", "POST", URL, lambda: {"audio_url": "http://" + "a" * 70_000}),
    ("native-model-unknown", "native", "POST", URL, lambda: {**files(), "model": "nope/" * 50}),
    ("native-granularity", "native", "POST", URL, lambda: {**files(), "timestamps_granularity": 7}),
    ("native-get-nul", "native", "GET", URL + "/%00", None),
    ("native-get-nul-mid", "native", "GET", URL + "/ab%00cd", None),
    ("native-get-bad-id", "native", "GET", URL + "/" + "z" * 300, None),
    ("native-get-unknown", "native", "GET", f"{URL}/{uuid.uuid4()}", None),
    ("native-cancel-nul", "native", "POST", URL + "/%00/cancel", lambda: {}),
    ("native-delete-nul", "native", "DELETE", URL + "/%00", None),
    ("native-export-fmt", "native", "GET", f"{URL}/{uuid.uuid4()}/export/exe", None),
    ("native-export-nul", "native", "GET", URL + "/%00/export/srt", None),
    ("native-audio-nul", "native", "GET", URL + "/%00/audio", None),
    ("native-cursor-nul", "native", "GET", URL + "?cursor=%00", None),
    ("native-cursor-junk", "native", "GET", URL + "?cursor=!!!notbase64", None),
    ("native-cursor-b64", "native", "GET", URL + "?cursor=aGVsbG8=", None),
    ("native-cursor-date", "native", "GET", URL + "?cursor=bm90LWEtZGF0ZXxpZA==", None),
    ("native-limit-text", "native", "GET", URL + "?limit=many", None),
    ("native-limit-huge", "native", "GET", URL + "?limit=" + "9" * 50, None),
    ("native-status-bad", "native", "GET", URL + "?status=exploded", None),
    # -- ElevenLabs ----------------------------------------------------------------------
    ("el-keyterms-nested", "elevenlabs", "POST", EL_URL, lambda: _el(keyterms=NESTED)),
    ("el-webhook-meta-nested", "elevenlabs", "POST", EL_URL, lambda: _el(webhook_metadata=NESTED)),
    (
        "el-formats-nested",
        "elevenlabs",
        "POST",
        EL_URL,
        lambda: _el(additional_formats=NESTED),
    ),
    ("el-entities-nested", "elevenlabs", "POST", EL_URL, lambda: _el(entity_detection=NESTED)),
    ("el-webhook-meta-huge", "elevenlabs", "POST", EL_URL, lambda: _el(webhook_metadata="{" * 9)),
    ("el-no-model", "elevenlabs", "POST", EL_URL, lambda: files()),
    ("el-no-file", "elevenlabs", "POST", EL_URL, lambda: {"model_id": "scribe_v1"}),
    ("el-nul-filename", "elevenlabs", "POST", EL_URL, lambda: _el(name="x\x00.wav")),
    ("el-temperature", "elevenlabs", "POST", EL_URL, lambda: _el(temperature="hot")),
    ("el-speakers", "elevenlabs", "POST", EL_URL, lambda: _el(num_speakers="1000")),
    ("el-empty", "elevenlabs", "POST", EL_URL, lambda: _el(content=b"")),
    ("el-not-audio", "elevenlabs", "POST", EL_URL, lambda: _el(content=b"\x00\x01" * 500)),
    (
        "el-pcm-odd",
        "elevenlabs",
        "POST",
        EL_URL,
        lambda: _el(content=b"abc", file_format="pcm_s16le_16"),
    ),
    ("el-get-nul", "elevenlabs", "GET", EL_URL + "/transcripts/%00", None),
    ("el-delete-nul", "elevenlabs", "DELETE", EL_URL + "/transcripts/%00", None),
    ("el-get-unknown", "elevenlabs", "GET", f"{EL_URL}/transcripts/{uuid.uuid4()}", None),
    ("el-get-long-id", "elevenlabs", "GET", EL_URL + "/transcripts/" + "q" * 5000, None),
    # -- OpenAI ----------------------------------------------------------------------------
    ("oa-no-file", "openai", "POST", OPENAI_URL, lambda: {"model": "whisper-1"}),
    ("oa-empty", "openai", "POST", OPENAI_URL, lambda: _oa(content=b"")),
    ("oa-not-audio", "openai", "POST", OPENAI_URL, lambda: _oa(content=b"junk" * 100)),
    ("oa-format", "openai", "POST", OPENAI_URL, lambda: _oa(response_format="pdf")),
    ("oa-temperature", "openai", "POST", OPENAI_URL, lambda: _oa(temperature="[[[[")),
    (
        "oa-granularity",
        "openai",
        "POST",
        OPENAI_URL,
        lambda: _oa(**{"timestamp_granularities[]": "x"}),
    ),
    ("oa-nul-filename", "openai", "POST", OPENAI_URL, lambda: _oa(name="a\x00b.wav")),
    ("oa-nul-prompt", "openai", "POST", OPENAI_URL, lambda: _oa(prompt="\x00")),
    ("oa-shared-nul", "openai", "POST", URL, lambda: _oa(language="\x00")),
    (
        "oa-translation-empty",
        "openai",
        "POST",
        "/openai/v1/audio/translations",
        lambda: _oa(content=b""),
    ),
]


def _el(content: bytes | None = None, name: str = "a.wav", **form):
    return {**files(content, name), "model_id": "scribe_v1", **form}


def _oa(content: bytes | None = None, name: str = "a.wav", **form):
    return {**files(content, name), "model": "whisper-1", **form}


def request(client, method: str, path: str, form):
    """Native requests on the shared path opt in to the asynchronous API; a form with a
    ``model`` there is an OpenAI request (``dalston.routing``)."""
    data = form() if form else None
    native = path.startswith(URL) and not (data and "model" in data and path == URL)
    return client.open(
        path,
        method=method,
        data=data,
        content_type="multipart/form-data" if data is not None else None,
        headers=NATIVE if native else {},
    )


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 40
    assert {c[1] for c in CASES} == {"native", "elevenlabs", "openai"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_answers_4xx_with_a_code(client, case):
    _id, family, method, path, form = case
    resp = request(client, method, path, form)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:500])
    code = code_of(family, resp.get_json())
    assert code and isinstance(code, str)


@pytest.mark.parametrize(
    "family,path", [("native", URL), ("elevenlabs", EL_URL), ("openai", OPENAI_URL)]
)
def test_a_12_hour_flac_is_refused_at_the_edge(client, store_dir, tmp_path, family, path):
    """Over DALSTON_MAX_AUDIO_SECONDS (default 36000 s, ElevenLabs' 10 h): 413 from the header."""
    flac = silent_flac(tmp_path / "silence.flac", 12)
    assert flac.stat().st_size < 12 * 1024 * 1024  # a few MB
    before = sorted(p for p in store_dir.rglob("*") if p.is_file())
    form = {"file": (flac.open("rb"), "silence.flac")}
    form.update(
        {"native": {}, "elevenlabs": {"model_id": "scribe_v1"}, "openai": {"model": "whisper-1"}}[
            family
        ]
    )
    resp = client.post(
        path,
        data=form,
        content_type="multipart/form-data",
        headers=NATIVE if family == "native" else {},
    )
    assert resp.status_code == 413, resp.get_data(as_text=True)
    assert code_of(family, resp.get_json()) == "audio_too_long"
    assert sorted(p for p in store_dir.rglob("*") if p.is_file()) == before, "nothing stored"


def test_the_upload_size_limit_is_413_in_each_family(client):
    big = b"\x00" * (21 * 1024 * 1024)
    for family, path, extra, headers in (
        ("native", URL, {}, NATIVE),
        ("elevenlabs", EL_URL, {"model_id": "scribe_v1"}, {}),
        ("openai", OPENAI_URL, {"model": "whisper-1"}, {}),
    ):
        resp = client.post(
            path,
            data={"file": (io.BytesIO(big), "big.wav"), **extra},
            content_type="multipart/form-data",
            headers=headers,
        )
        assert resp.status_code == 413, (family, resp.status_code)
        assert code_of(family, resp.get_json()) == "file_too_large"


def test_no_failed_submission_leaves_an_object(client, store_dir, postgres_url):
    """After the corpus: every stored object belongs to a job row."""
    for case in CASES:
        request(client, case[2], case[3], case[4])
    import sqlalchemy as sa

    from dalston.db.session import get_engine

    with get_engine(postgres_url).connect() as conn:
        ids = {r[0] for r in conn.execute(sa.text("SELECT id FROM jobs"))}
    orphans = [
        p
        for p in store_dir.rglob("*")
        if p.is_file() and p.relative_to(store_dir).parts[1] not in ids
    ]
    assert orphans == []
