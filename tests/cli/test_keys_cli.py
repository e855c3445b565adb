"""``dalston keys`` as an operator runs it (``python -m dalston.cli`` in a child process):
create with scopes, use the key, 403 outside its scopes, list, revoke, 401.

The commands talk to the database (``DALSTON_DATABASE_URL``), not to a server; the key
they print (alone on the last line of stdout) is then used against a server that requires
keys, over the same database.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from dalston.app import create_app
from dalston.db.session import get_engine
from tests.keys_helpers import NATIVE, bearer, error_code, secure_settings, wav_bytes

REPO = Path(__file__).resolve().parents[2]


def keys_cli(*args, env_db: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DALSTON_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "dalston.cli", "keys", *args],
        cwd=REPO,
        env={**env, "DALSTON_DATABASE_URL": env_db},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture
def client(postgres_url, redis_url, tmp_path):
    return create_app(secure_settings(postgres_url, tmp_path / "store")).test_client()


def test_key_lifecycle_from_the_command_line(client, postgres_url):
    made = keys_cli(
        "create",
        "--name",
        "ci reader",
        "--scopes",
        "jobs:read,realtime",
        "--tenant",
        "ci",
        env_db=postgres_url,
    )
    key = made.stdout.splitlines()[-1]
    assert key.startswith("dsk_") and key.strip() == key and " " not in key
    key_id = key.split("_")[1]
    assert key_id in made.stderr and key not in made.stderr

    assert client.get("/v1/audio/transcriptions", headers=bearer(key)).status_code == 200
    assert client.post("/v1/realtime/tokens", headers={"xi-api-key": key}).status_code == 201
    refused = client.post(
        "/v1/audio/transcriptions",
        data={"file": (io.BytesIO(wav_bytes()), "a.wav")},
        headers={**NATIVE, **bearer(key)},
    )
    assert refused.status_code == 403 and error_code(refused.get_json()) == "insufficient_scope"

    listed = json.loads(keys_cli("list", "--json", "--tenant", "ci", env_db=postgres_url).stdout)
    mine = [k for k in listed if k["id"] == key_id]
    assert mine and mine[0]["scopes"] == ["jobs:read", "realtime"] and mine[0]["active"]
    table = keys_cli("list", env_db=postgres_url).stdout
    assert key_id in table and "ci reader" in table and key not in table

    revoked = keys_cli("revoke", key_id, env_db=postgres_url)
    assert key_id in revoked.stdout
    resp = client.get("/v1/audio/transcriptions", headers=bearer(key))
    assert resp.status_code == 401 and error_code(resp.get_json()) == "invalid_api_key"
    assert "revoked" in keys_cli("list", env_db=postgres_url).stdout

    with get_engine(postgres_url).connect() as conn:
        stored = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().all()
    dump = json.dumps([{k: str(v) for k, v in row.items()} for row in stored])
    assert key not in dump and key.split("_", 2)[2] not in dump


def test_bad_input_is_one_line_and_status_1(postgres_url):
    for args, words in (
        (("create", "--name", "x", "--scopes", "jobs:read,root"), "unknown scope 'root'"),
        (("create", "--name", "x", "--tenant", "no/slash"), "tenant"),
        (("revoke", "000000000000"), "no API key"),
    ):
        proc = keys_cli(*args, env_db=postgres_url, check=False)
        assert proc.returncode == 1 and proc.stdout == "", proc
        assert proc.stderr.startswith("dalston: error:") and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_is_one_line(tmp_path):
    proc = keys_cli("list", env_db="postgresql+psycopg2://postgres@127.0.0.1:1/none", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("dalston: error:"), proc.stderr


def test_embedded_mode_keys_live_in_its_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'dalston.db'}"
    key = keys_cli("create", "--name", "laptop", env_db=url).stdout.splitlines()[-1]
    assert key.startswith("dsk_")
    assert key.split("_")[1] in keys_cli("list", env_db=url).stdout
