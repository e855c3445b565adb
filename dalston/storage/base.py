"""The storage protocol every stage uses. Stages never import boto3 or handle botocore errors."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ArtifactStore(Protocol):
    """Objects addressed by key. A missing key raises ``FileNotFoundError``."""

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None: ...

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream"
    ) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def download_to(self, key: str, path: Path) -> Path: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def check(self) -> None:
        """Raise if the store cannot be reached (used by ``/v1/system/status``)."""
