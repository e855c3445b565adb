"""DALSTON_API_KEY guards the ElevenLabs and OpenAI routes, in each API's own error shape."""

import pytest

from dalston.app import create_app


@pytest.fixture
def keyed(postgres_url, redis_url, tmp_path):
    app = create_app(
        {
            "DALSTON_DATABASE_URL": postgres_url,
            "DALSTON_STORAGE_DIR": str(tmp_path / "store"),
            "DALSTON_API_KEY": "sekrit",
        }
    )
    return app.test_client()


def test_elevenlabs_route_wants_the_key(keyed):
    resp = keyed.get("/v1/speech-to-text/transcripts/x", headers={"xi-api-key": "wrong"})
    assert resp.status_code == 401 and resp.get_json()["detail"]["code"] == "invalid_api_key"
    for headers in ({"xi-api-key": "sekrit"}, {"Authorization": "Bearer sekrit"}):
        resp = keyed.get("/v1/speech-to-text/transcripts/x", headers=headers)
        assert resp.status_code == 404  # past the key: no such transcript


def test_openai_route_wants_the_key(keyed):
    form = {"model": "whisper-1"}
    resp = keyed.post("/openai/v1/audio/transcriptions", data=form)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_api_key"
    resp = keyed.post(
        "/openai/v1/audio/transcriptions", data=form, headers={"Authorization": "Bearer sekrit"}
    )
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "file"
