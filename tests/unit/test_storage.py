"""Both artifact stores behave the same; S3 is exercised against moto's real HTTP server."""

import pytest

from dalston.storage.local import LocalStore
from dalston.storage.s3 import S3Store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("make_bucket")()
    return S3Store(bucket, endpoint_url=endpoint, region="us-east-1")


def test_round_trip_and_missing_keys(store, tmp_path):
    store.check()
    store.put_bytes("jobs/a/x.json", b"{}", "application/json")
    assert store.get_bytes("jobs/a/x.json") == b"{}"
    assert store.exists("jobs/a/x.json") and not store.exists("jobs/a/nope")
    with pytest.raises(FileNotFoundError):
        store.get_bytes("jobs/a/nope")
    with pytest.raises(FileNotFoundError):
        store.download_to("jobs/a/nope", tmp_path / "out")
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00" * 1000)
    store.put_file("jobs/a/input/source", src)
    assert (
        store.download_to("jobs/a/input/source", tmp_path / "copy").read_bytes() == src.read_bytes()
    )


def test_overwrite_is_idempotent(store):
    store.put_bytes("jobs/b/k", b"one")
    store.put_bytes("jobs/b/k", b"two")
    assert store.get_bytes("jobs/b/k") == b"two"
    assert store.list_keys("jobs/b/") == ["jobs/b/k"]


def test_delete_prefix_removes_only_that_job(store):
    for key in ("jobs/c/1", "jobs/c/sub/2", "jobs/cc/3", "jobs/d/4"):
        store.put_bytes(key, b"x")
    assert store.delete_prefix("jobs/c/") == 2
    assert store.list_keys("jobs/") == ["jobs/cc/3", "jobs/d/4"]


def test_local_store_refuses_keys_outside_its_root(tmp_path):
    with pytest.raises(ValueError):
        LocalStore(tmp_path / "store").put_bytes("../escape", b"x")
