"""Many objects at once: a stage's reads overlap their round trips.

Merge reads every chunk's transcript; one after another, each costs a storage round trip
(milliseconds on S3), which added up to a tail of hundreds of milliseconds on a many-chunk
job. Any store works: S3's client is thread-safe.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from dalston.storage.base import ArtifactStore

#: Requests in flight at once (well under the S3 client's connection pool).
PARALLEL = 8


def get_all(store: ArtifactStore, keys: list[str]) -> list[bytes]:
    """The objects at ``keys``, in order; the first missing one raises ``FileNotFoundError``."""
    if len(keys) <= 1:
        return [store.get_bytes(key) for key in keys]
    with ThreadPoolExecutor(min(PARALLEL, len(keys)), thread_name_prefix="store-get") as pool:
        return list(pool.map(store.get_bytes, keys))
