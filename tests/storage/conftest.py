"""Storage fixtures: a real S3 HTTP server (moto) on loopback, and both blob backends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from qianshu.storage.s3_store import MIN_PART_SIZE, S3BlobStore

S3_REGION = "us-east-1"
S3_KEYS = {"aws_access_key_id": "qianshu-test", "aws_secret_access_key": "qianshu-test-secret"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Run moto's S3 server in a thread on a free 127.0.0.1 port; yield its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    """Return a boto3 S3 client for the test server."""
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=S3_REGION, **S3_KEYS)


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """Create a fresh bucket for one test."""
    name = f"qs-{uuid.uuid4().hex[:16]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(moto_endpoint: str, s3_bucket: str) -> S3BlobStore:
    """An S3 blob store with the smallest part size S3 allows, so multipart is cheap to reach."""
    return S3BlobStore(
        client=s3_client(moto_endpoint), bucket=s3_bucket, prefix="blobs", part_size=MIN_PART_SIZE
    )


@pytest.fixture(params=["local", "s3"])
def blob_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(blob_backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run every service test on the local store and on S3."""
    if blob_backend == "local":
        return {"blob_backend": "local"}
    return {
        "blob_backend": "s3",
        "s3_endpoint_url": request.getfixturevalue("moto_endpoint"),
        "s3_bucket": request.getfixturevalue("s3_bucket"),
        "s3_prefix": "qianshu/blobs/",
        "s3_region": S3_REGION,
        "s3_access_key_id": S3_KEYS["aws_access_key_id"],
        "s3_secret_access_key": S3_KEYS["aws_secret_access_key"],
    }
