"""Artifact storage: S3 (boto3) in distributed mode, a local directory in embedded mode."""

from __future__ import annotations

from dalston.config import Settings
from dalston.storage.base import ArtifactStore
from dalston.storage.local import LocalStore


def make_store(settings: Settings) -> ArtifactStore:
    """The store the settings describe: S3 when ``DALSTON_S3_BUCKET`` is set, else a directory."""
    if settings.uses_s3:
        from dalston.storage.s3 import S3Store  # boto3 loads slowly; embedded mode never needs it

        return S3Store(
            settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
        )
    return LocalStore(settings.storage_dir)
