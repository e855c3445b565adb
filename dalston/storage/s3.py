"""S3 (or MinIO, or moto's server) through boto3. ``NoSuchKey`` becomes ``FileNotFoundError``.

Credentials and region come from the standard ``AWS_*`` variables that boto3 reads itself.
"""

from __future__ import annotations

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
        self._local = threading.local()

    @property
    def client(self):
        # boto3 clients are thread-safe, but sessions are not: one client per thread is safest.
        client = getattr(self._local, "client", None)
        if client is None:
            session = boto3.session.Session()
            client = session.client(
                "s3",
                endpoint_url=self._endpoint_url,
                region_name=self._region,
                config=Config(
                    retries={"max_attempts": 5, "mode": "standard"}, signature_version="s3v4"
                ),
            )
            self._local.client = client
        return client

    def put_bytes(self, key, data, content_type="application/octet-stream"):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key, path, content_type="application/octet-stream"):
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
        try:
            self.client.download_file(self.bucket, key, str(path))
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
