"""Property-based requests (schemathesis) against each API family: no response is a 5xx,
and no request leaves an object in storage without a job row.

The native API and the operations routes are generated from the app's own
``/openapi.json``. The ElevenLabs and OpenAI families publish no document of their own here
(their vendors' documents describe them), so this file states their batch endpoints' forms
in the same OpenAPI form and schemathesis generates from those. Bounded: ``MAX_EXAMPLES``
per operation and no per-example deadline (the machine is shared; this is not a timing test).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from dalston.app import create_app

MAX_EXAMPLES = 25

_FORM_EL = {
    "type": "object",
    "required": ["model_id"],
    "properties": {
        "model_id": {"type": "string"},
        "file": {"type": "string", "format": "binary"},
        "cloud_storage_url": {"type": "string"},
        "language_code": {"type": "string"},
        "num_speakers": {"type": "integer"},
        "diarize": {"type": "boolean"},
        "keyterms": {"type": "string"},
        "webhook_metadata": {"type": "string"},
        "additional_formats": {"type": "string"},
        "entity_detection": {"type": "string"},
        "timestamps_granularity": {"type": "string"},
        "temperature": {"type": "number"},
        "file_format": {"type": "string"},
    },
}
_FORM_OA = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {"type": "string"},
        "file": {"type": "string", "format": "binary"},
        "language": {"type": "string"},
        "prompt": {"type": "string"},
        "response_format": {"type": "string"},
        "temperature": {"type": "number"},
        "timestamp_granularities[]": {"type": "array", "items": {"type": "string"}},
    },
}


def _doc(title: str, paths: dict) -> dict:
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1"}, "paths": paths}


def _post(form: dict) -> dict:
    return {
        "post": {
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}},
            "responses": {"200": {"description": "OK"}},
        }
    }


_ID = [{"name": "transcription_id", "in": "path", "required": True, "schema": {"type": "string"}}]
ELEVENLABS = _doc(
    "ElevenLabs speech-to-text (as Dalston serves it)",
    {
        "/v1/speech-to-text": _post(_FORM_EL),
        "/v1/speech-to-text/transcripts/{transcription_id}": {
            "get": {"parameters": _ID, "responses": {"200": {"description": "OK"}}},
            "delete": {"parameters": _ID, "responses": {"204": {"description": "gone"}}},
        },
    },
)
OPENAI = _doc(
    "OpenAI audio (as Dalston serves it)",
    {
        "/openai/v1/audio/transcriptions": _post(_FORM_OA),
        "/openai/v1/audio/translations": _post(_FORM_OA),
    },
)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def app(postgres_url, redis_url, store_dir):
    return create_app(
        {
            "DALSTON_DATABASE_URL": postgres_url,
            "DALSTON_STORAGE_DIR": str(store_dir),
            "DALSTON_MAX_UPLOAD_MB": "5",
            "DALSTON_SYNC_TIMEOUT": "0.2",
            "DALSTON_REQUIRE_AUTH": "false",  # not about keys (tests/api/test_keys*.py are)
            "DALSTON_OPENAI_SYNC_TIMEOUT": "0.2",
        }
    )


def _schema(family: str, app):
    if family == "native":
        schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    else:
        schema = schemathesis.openapi.from_dict(ELEVENLABS if family == "elevenlabs" else OPENAI)
        schema.app = app
    return schema


def _operations(schema):
    out = []
    for result in schema.get_all_operations():
        out.append(result.ok())
    return out


@pytest.mark.parametrize("family", ["native", "elevenlabs", "openai"])
def test_no_generated_request_answers_5xx(app, family, store_dir, postgres_url):
    schema = _schema(family, app)
    operations = _operations(schema)
    assert operations, f"no operations in the {family} document"
    seen: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call()
            seen.append((operation.label, response.status_code))
            assert response.status_code < 500, (
                operation.label,
                response.status_code,
                response.text[:500],
            )

        check()
    print(f"{family}: {len(seen)} requests over {len(operations)} operations")
    assert len(seen) >= len(operations) * 5, seen
    _assert_no_orphans(store_dir, postgres_url)


def _assert_no_orphans(store_dir, postgres_url):
    import sqlalchemy as sa

    from dalston.db.session import get_engine

    with get_engine(postgres_url).connect() as conn:
        ids = {r[0] for r in conn.execute(sa.text("SELECT id FROM jobs"))}
    orphans = [
        p
        for p in store_dir.rglob("*")
        if p.is_file() and p.relative_to(store_dir).parts[1] not in ids
    ]
    assert orphans == [], orphans[:5]
