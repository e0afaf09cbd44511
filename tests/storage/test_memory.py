"""Large files stream through in constant memory: a 64 MiB upload and read, measured with tracemalloc.

The S3 variant talks to a moto server in a child process, so the server's own copy of the object
does not count against this process.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.storage import service as storage_service
from qianshu.storage.providers import blob_store_for
from qianshu.storage.s3_store import MIN_PART_SIZE, S3BlobStore
from tests.storage.conftest import s3_client

SIZE = 64 * 1024 * 1024
MiB = 1024 * 1024

pytestmark = pytest.mark.slow


class GeneratedUpload(io.RawIOBase):
    """`size` random bytes produced as they are read, hashed on the way."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left, 64 * 1024)
        piece = os.urandom(n)
        b[:n] = piece
        self.digest.update(piece)
        self.left -= n
        return n


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    """Run moto's S3 server as a child process on a free loopback port; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = None
    for line in proc.stderr:
        found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail("moto server did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its request log
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(params=["local", "s3"])
def blob_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(blob_backend: str) -> dict[str, Any]:
    return {"blob_backend": blob_backend}


@pytest.fixture
def big_runtime(runtime: Runtime, blob_backend: str, request: pytest.FixtureRequest) -> Runtime:
    if blob_backend == "s3":
        endpoint: str = request.getfixturevalue("moto_process")
        bucket = f"qs-{uuid.uuid4().hex[:16]}"
        client = s3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        store = S3BlobStore(client=client, bucket=bucket, prefix="blobs", part_size=MIN_PART_SIZE)
        runtime.set_component("storage.blob_store", store)
    return runtime


def _peak(fn: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_large_file_streams_in_constant_memory(
    big_runtime: Runtime, session: Session, clock: FrozenClock, blob_backend: str
) -> None:
    upload = GeneratedUpload(SIZE)
    blob, peak_in = _peak(
        lambda: storage_service.store_blob(
            session=session,
            clock=clock,
            owner_id="usr_0000000000000000ownr",
            stream=io.BufferedReader(upload, buffer_size=64 * 1024),
            media_type="application/pdf",
            max_bytes=SIZE,
        )
    )
    assert blob.size == SIZE and blob.sha256 == upload.digest.hexdigest()

    def read_all() -> str:
        digest = hashlib.sha256()
        for piece in storage_service.read_blob(session=session, blob_id=blob.id):
            digest.update(piece)
        return digest.hexdigest()

    digest, peak_out = _peak(read_all)
    assert digest == blob.sha256
    # Local: a few 64 KiB chunks. S3: one 5 MiB part (and its copy while it is sent).
    bound = 4 * MiB if blob_backend == "local" else 3 * MIN_PART_SIZE + 4 * MiB
    assert peak_in < bound, f"upload peak {peak_in / MiB:.1f} MiB"
    assert peak_out < 4 * MiB, f"read peak {peak_out / MiB:.1f} MiB"
    stat = blob_store_for(big_runtime).stat(blob.id)
    assert stat is not None and stat.size > SIZE
