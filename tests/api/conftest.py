"""API tests: the Flask test client over real PostgreSQL and Redis, with local storage."""

import pytest

from dalston.app import create_app


@pytest.fixture
def app(postgres_url, redis_url, tmp_path):
    return create_app(
        {
            "DALSTON_DATABASE_URL": postgres_url,
            "DALSTON_STORAGE_DIR": str(tmp_path / "store"),
            "DALSTON_MAX_UPLOAD_MB": "5",
            # Not about keys (tests/api/test_keys*.py are): the server runs open.
            "DALSTON_REQUIRE_AUTH": "false",
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()
