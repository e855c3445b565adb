"""The console's static page and assets, and the job audio endpoint its player uses.

The page is public and holds no data (with ``DALSTON_API_KEY`` set, every API call it makes
still needs the key); it references only this server; the audio endpoint serves the
prepared WAV (else the source) with byte ranges, behind the key like every route.
"""

from __future__ import annotations

import re
import uuid

import pytest

from dalston.app import create_app
from dalston.console import STATIC
from dalston.db.models import Job
from dalston.db.session import session_scope

URL = "/v1/audio/transcriptions"
KEY = "console-key"


def _job(postgres_url, status: str = "completed") -> str:
    job_id = str(uuid.uuid4())
    with session_scope(postgres_url) as session:
        session.add(Job(id=job_id, status=status, model="tiny.en", options={"model": "tiny.en"}))
    return job_id


@pytest.fixture
def keyed(postgres_url, redis_url, tmp_path):
    return create_app(
        {
            "DALSTON_DATABASE_URL": postgres_url,
            "DALSTON_STORAGE_DIR": str(tmp_path / "store"),
            "DALSTON_API_KEY": KEY,
            "DALSTON_FLOWER_URL": "http://flower.example:5555/",
        }
    ).test_client()


def test_the_page_and_its_assets_are_served(client):
    resp = client.get("/console/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "assets/console.js" in page and "assets/console.css" in page
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    for name, mimetype in (
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ):
        asset = client.get(f"/console/assets/{name}")
        assert asset.status_code == 200 and asset.mimetype == mimetype, name
    assert client.get("/console").status_code == 308
    assert client.get("/console/assets/../__init__.py").status_code == 404
    assert client.get("/console/assets/nothing.js").status_code == 404


def test_the_static_files_reference_nothing_but_this_server():
    """Offline: every src/href in the page is relative, and no asset names another origin
    (the browser test blocks every other origin and checks nothing tried)."""
    page = (STATIC / "index.html").read_text()
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^[a-z]+:|^//", ref), ref
    for name in ("console.js", "console.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), name
        assert not re.search(r"""(fetch|import)\(\s*['"`](https?:)?//""", text), name
        assert "@import" not in text, name


def test_with_a_key_the_shell_is_public_and_holds_no_data(keyed, postgres_url):
    job_id = _job(postgres_url)
    page = keyed.get("/console/")
    assert page.status_code == 200
    assert job_id not in page.get_data(as_text=True)
    assert "http://flower.example:5555/" in page.get_data(as_text=True)
    assert keyed.get("/console/assets/console.js").status_code == 200
    for path in (URL, f"{URL}/{job_id}", f"{URL}/{job_id}/audio", "/v1/system/status"):
        assert keyed.get(path).status_code == 401, path
    resp = keyed.get(f"{URL}/{job_id}", headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status_code == 200


def test_job_audio_prefers_the_prepared_wav_and_answers_ranges(app, client, postgres_url):
    job_id = _job(postgres_url)
    store = app.extensions["dalston"].store
    assert client.get(f"{URL}/{job_id}/audio").get_json()["error"]["code"] == "audio_not_found"
    store.put_bytes(f"jobs/{job_id}/input/source", b"ID3 an mp3, as sent")
    resp = client.get(f"{URL}/{job_id}/audio")
    assert resp.status_code == 200 and resp.data == b"ID3 an mp3, as sent"
    assert resp.mimetype == "application/octet-stream"
    source_wav = b"RIFF\x00\x00\x00\x00WAVEfmt "  # a WAV upload prepare kept as it was
    store.put_bytes(f"jobs/{job_id}/input/source", source_wav)
    assert client.get(f"{URL}/{job_id}/audio").mimetype == "audio/wav"
    wav = b"RIFF" + bytes(range(256)) * 40
    store.put_bytes(f"jobs/{job_id}/prepare/audio.wav", wav)
    resp = client.get(f"{URL}/{job_id}/audio")
    assert resp.status_code == 200 and resp.mimetype == "audio/wav" and resp.data == wav
    assert resp.headers["Accept-Ranges"] == "bytes"
    part = client.get(f"{URL}/{job_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == wav[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(wav)}"
    assert client.get(f"{URL}/{uuid.uuid4()}/audio").status_code == 404


def test_the_job_list_has_what_a_real_time_factor_needs(client, postgres_url):
    _job(postgres_url)
    job = client.get(URL).get_json()["jobs"][0]
    assert {"started_at", "completed_at", "audio_duration_seconds"} <= set(job)


def test_cancelling_a_job_no_task_has_picked_up_yet_is_not_already_cancelled(client, postgres_url):
    """The console's and the CLI's cancel: a pending job without a task id is cancelled (200),
    and only a second cancel is refused."""
    job_id = _job(postgres_url, status="pending")
    resp = client.post(f"{URL}/{job_id}/cancel")
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled", resp.get_json()
    again = client.post(f"{URL}/{job_id}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "job_not_cancellable"
