"""S3 (or MinIO, or moto's server) through boto3. ``NoSuchKey`` becomes ``FileNotFoundError``.

Credentials and region come from the standard ``AWS_*`` variables that boto3 reads itself.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None):
        self.bucket = bucket
        self._endpoint_url = endpoint_url
        self._region = region
        self._client = None
        self._pid = None
        self._lock = threading.Lock()

    #: Connections the shared client keeps open: enough for every thread of a threaded
    #: worker pool or a busy API process to have one (botocore's default is 10).
    MAX_CONNECTIONS = 64

    @property
    def client(self):
        """One boto3 client per store, made on first use and shared by every thread.

        boto3 clients are thread-safe; sessions are not, so the one creation is under a
        lock. Creating a client costs tens of milliseconds of CPU (it loads the service
        model): one per thread made every request of the threaded API pay for it. A forked
        child (prefork pool) makes its own: its parent's pooled connections are not its to use.
        """
        client = self._client
        if client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._client = boto3.session.Session().client(
                        "s3",
                        endpoint_url=self._endpoint_url,
                        region_name=self._region,
                        config=Config(
                            retries={"max_attempts": 5, "mode": "standard"},
                            signature_version="s3v4",
                            max_pool_connections=self.MAX_CONNECTIONS,
                        ),
                    )
                client = self._client
        return client

    def put_bytes(self, key, data, content_type="application/octet-stream"):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    #: Files up to this size go up in one request; larger ones by s3transfer's multipart
    #: upload (its thread pool and parts cost more than they save on a small file).
    SINGLE_PUT_BYTES = 8 * 1024 * 1024

    def put_file(self, key, path, content_type="application/octet-stream"):
        if Path(path).stat().st_size <= self.SINGLE_PUT_BYTES:
            self.put_bytes(key, Path(path).read_bytes(), content_type)
            return
        self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
        )

    def get_bytes(self, key):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileNotFoundError(key) from exc
            raise

    def download_to(self, key, path):
        """Stream the object to ``path``: one GET (s3transfer's HEAD, ranged GETs and
        thread pool cost more than they save on the files a job holds)."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with open(path, "wb") as out:
                for block in body.iter_chunks(1024 * 1024):
                    out.write(block)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileNotFoundError(key) from exc
            raise
        return Path(path)

    def exists(self, key):
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self, prefix):
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def delete_prefix(self, prefix):
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        return len(keys)

    def check(self):
        self.client.head_bucket(Bucket=self.bucket)
