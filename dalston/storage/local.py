"""A directory as the artifact store (embedded mode). Keys are relative paths under the root."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class LocalStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def _write_atomic(self, path: Path, writer) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                writer(out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key, data, content_type="application/octet-stream"):
        self._write_atomic(self._path(key), lambda out: out.write(data))

    def put_file(self, key, path, content_type="application/octet-stream"):
        with open(path, "rb") as src:
            self._write_atomic(self._path(key), lambda out: shutil.copyfileobj(src, out))

    def get_bytes(self, key):
        return self._path(key).read_bytes()

    def download_to(self, key, path):
        src = self._path(key)
        if not src.exists():
            raise FileNotFoundError(key)
        shutil.copyfile(src, path)
        return Path(path)

    def exists(self, key):
        return self._path(key).is_file()

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)

    def list_keys(self, prefix):
        base = self.root.resolve()
        start = self._path(prefix.rstrip("/")) if prefix.strip("/") else base
        if start.is_file():
            return [prefix]
        if not start.exists():
            return []
        return sorted(
            str(p.relative_to(base))
            for p in start.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete_prefix(self, prefix):
        keys = self.list_keys(prefix)
        for key in keys:
            self.delete(key)
        start = self._path(prefix.rstrip("/"))
        if start.is_dir():
            shutil.rmtree(start, ignore_errors=True)
        return len(keys)

    def check(self):
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"storage directory not writable: {self.root}")
