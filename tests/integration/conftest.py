"""Fixtures for the distributed-mode tests: one worker process per queue, API over HTTP."""

from __future__ import annotations

import pytest

import celeryconfig
from tests.integration.cluster import Cluster


@pytest.fixture(scope="session")
def cluster(postgres_url, redis_url, s3_endpoint, tmp_root):
    import boto3

    bucket = "dalston-integration"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    settings = {
        "DALSTON_S3_BUCKET": bucket,
        "DALSTON_S3_ENDPOINT_URL": s3_endpoint,
        "DALSTON_DATABASE_URL": postgres_url,
        "DALSTON_CPU_THREADS": "1",
        "DALSTON_ALLOW_PRIVATE_URLS": "false",
    }
    log_dir = tmp_root / "logs"
    log_dir.mkdir(exist_ok=True)
    c = Cluster(log_dir, settings)
    c.bucket = bucket
    c.s3_endpoint = s3_endpoint
    try:
        names = [c.start_worker(queue) for queue in celeryconfig.STAGE_QUEUES]
        c.start_api(settings)
        c.wait_for_workers(names, timeout=90)
        yield c
    finally:
        c.stop_api()
        c.stop_all()


@pytest.fixture(scope="session")
def s3(cluster):
    import boto3

    client = boto3.client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1")

    def keys(prefix: str) -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=cluster.bucket, Prefix=prefix
        )
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    return keys
