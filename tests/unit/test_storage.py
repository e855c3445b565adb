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


def test_s3_threads_share_one_client_and_a_forked_child_makes_its_own(s3_endpoint, make_bucket):
    """One client per store (creating one costs tens of ms); a child's pool is its own."""
    import os
    import threading

    store = S3Store(make_bucket(), endpoint_url=s3_endpoint, region="us-east-1")
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(store.client)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1 and seen[0] is store.client
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a client of its own, which works
        ok = store.client is not seen[0]
        store.put_bytes("jobs/c/x", b"child")
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert store.get_bytes("jobs/c/x") == b"child"
