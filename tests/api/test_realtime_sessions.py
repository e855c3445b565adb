"""Realtime sessions are kept: a row per session, its audio and transcript, the routes to read them.

The real API (``create_app`` under werkzeug, flask-sock) on SQLite migrated with Alembic
and local storage, a ``RealtimeWorker`` thread on the app's in-memory relay with tiny.en,
and a ``simple_websocket`` client streaming jfk.flac. The tenant a request belongs to is
set by a stand-in for the keys hook (``g.tenant_id`` from a test header), which is what
``current_tenant()`` reads.
"""

from __future__ import annotations

import json
import wave

import pytest
from flask import g, request

from dalston import audio
from dalston.config import Settings
from dalston.db.migrate import upgrade
from tests.bench.evaluation.metrics import wer
from tests.realtime_helpers import ApiServer, NativeClient, pcm16

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _start(tmp_path, retention: str):
    db = tmp_path / "api.db"
    config = {
        "DALSTON_REALTIME_URL": "memory://",
        "DALSTON_DATABASE_URL": f"sqlite:///{db}",
        "DALSTON_STORAGE_DIR": str(tmp_path / "artifacts"),
        "DALSTON_REALTIME_MODEL": "tiny.en",
        "DALSTON_CPU_THREADS": "2",
        "DALSTON_REALTIME_LAG_HARD_SECONDS": "300",
        "DALSTON_REALTIME_RETENTION": retention,
    }
    upgrade(config["DALSTON_DATABASE_URL"])
    api = ApiServer(config)

    @api.app.before_request
    def tenant_from_test_header():  # stands in for the keys hook, which sets g.tenant_id
        if request.headers.get("X-Test-Tenant"):
            g.tenant_id = request.headers["X-Test-Tenant"]

    from dalston.streaming.worker import RealtimeWorker

    worker = RealtimeWorker(Settings.from_env(overrides=config), api.relay).start()
    return api, worker


@pytest.fixture(scope="module")
def jfk_pcm(fixtures_dir) -> bytes:
    return pcm16(audio.decode(fixtures_dir / "jfk.flac").mono)


def stream_session(api, data: bytes, tenant: str = "t1") -> dict:
    client = NativeClient(
        api.ws + "/v1/audio/transcriptions/stream?word_timestamps=true",
        headers={"X-Test-Tenant": tenant},
    )
    begin = client.recv()
    for i in range(0, len(data), 32000):
        client.ws.send(data[i : i + 32000])
    client.ws.send(json.dumps({"type": "end"}))
    end = client.until("session.end", timeout=300)
    assert end["session_id"] == begin["session_id"]
    return end


@pytest.fixture(scope="module")
def kept(tmp_path_factory, jfk_pcm):
    api, worker = _start(tmp_path_factory.mktemp("rt-sessions"), "true")
    ends = [stream_session(api, jfk_pcm), stream_session(api, jfk_pcm[: 32000 * 5])]
    yield api, ends
    worker.stop()
    api.stop()


def get(api, path, tenant="t1"):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(api.http + path, headers={"X-Test-Tenant": tenant})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_a_session_leaves_a_row_audio_and_transcript(kept, jfk_pcm):
    api, ends = kept
    sid = ends[0]["session_id"]
    status, body, _ = get(api, f"/v1/realtime/sessions/{sid}")
    assert status == 200
    row = json.loads(body)
    assert row["status"] == "completed" and row["protocol"] == "native" and row["retained"]
    assert abs(row["audio_seconds"] - len(jfk_pcm) / 32000) < 0.1
    assert wer(JFK, row["text"]) <= 0.10, row["text"]
    status, body, _ = get(api, f"/v1/realtime/sessions/{sid}/transcript")
    transcript = json.loads(body)
    assert status == 200 and transcript["text"] == row["text"]
    assert transcript["words"] and all(w["end"] >= w["start"] for w in transcript["words"])
    path = api.app.extensions["dalston"].settings.storage_dir / "realtime" / sid / "audio.wav"
    with wave.open(str(path)) as w:  # the audio as the client sent it, 16 kHz mono PCM16
        assert w.getframerate() == 16000 and w.getnframes() == len(jfk_pcm) // 2


@pytest.mark.parametrize("fmt,marker", [("srt", "-->"), ("vtt", "WEBVTT"), ("txt", "country")])
def test_exports(kept, fmt, marker):
    api, ends = kept
    status, body, headers = get(api, f"/v1/realtime/sessions/{ends[0]['session_id']}/export/{fmt}")
    assert status == 200 and marker in body.decode()
    assert "attachment" in headers["Content-Disposition"]
    status, body, _ = get(api, f"/v1/realtime/sessions/{ends[0]['session_id']}/export/json")
    assert status == 200 and json.loads(body)
    status, body, _ = get(api, f"/v1/realtime/sessions/{ends[0]['session_id']}/export/docx")
    assert status == 400 and json.loads(body)["error"]["code"] == "unsupported_format"


def test_list_pages_newest_first_with_a_cursor(kept):
    api, ends = kept
    status, body, _ = get(api, "/v1/realtime/sessions?limit=1")
    first = json.loads(body)
    assert status == 200 and first["has_more"] and len(first["sessions"]) == 1
    assert first["sessions"][0]["id"] == ends[1]["session_id"]
    status, body, _ = get(api, f"/v1/realtime/sessions?limit=1&cursor={first['cursor']}")
    second = json.loads(body)
    assert [s["id"] for s in second["sessions"]] == [ends[0]["session_id"]]
    assert not second["has_more"] and second["cursor"] is None
    status, body, _ = get(api, "/v1/realtime/sessions?cursor=bogus")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_cursor"


def test_another_tenants_sessions_are_not_found(kept):
    api, ends = kept
    sid = ends[0]["session_id"]
    assert get(api, f"/v1/realtime/sessions/{sid}", tenant="t2")[0] == 404
    assert get(api, f"/v1/realtime/sessions/{sid}/transcript", tenant="t2")[0] == 404
    status, body, _ = get(api, "/v1/realtime/sessions", tenant="t2")
    assert status == 200 and json.loads(body)["sessions"] == []


def test_delete_removes_objects_then_the_row(kept):
    import urllib.request

    api, ends = kept
    sid = ends[1]["session_id"]
    folder = api.app.extensions["dalston"].settings.storage_dir / "realtime" / sid
    assert (folder / "audio.wav").exists()
    req = urllib.request.Request(
        f"{api.http}/v1/realtime/sessions/{sid}",
        method="DELETE",
        headers={"X-Test-Tenant": "t1"},
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 204
    assert not (folder / "audio.wav").exists() and not (folder / "transcript.json").exists()
    assert get(api, f"/v1/realtime/sessions/{sid}")[0] == 404


def test_retention_off_keeps_the_row_only(tmp_path, jfk_pcm):
    api, worker = _start(tmp_path, "false")
    try:
        end = stream_session(api, jfk_pcm[: 32000 * 4])
        status, body, _ = get(api, f"/v1/realtime/sessions/{end['session_id']}")
        row = json.loads(body)
        assert status == 200 and row["status"] == "completed" and not row["retained"]
        status, body, _ = get(api, f"/v1/realtime/sessions/{end['session_id']}/transcript")
        assert status == 404 and json.loads(body)["error"]["code"] == "transcript_not_available"
        assert not (tmp_path / "artifacts" / "realtime").exists()
    finally:
        worker.stop()
        api.stop()
