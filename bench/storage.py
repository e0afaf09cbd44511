"""Benchmark the blob store: encrypt-and-store and read-and-verify throughput, and memory held.

    python bench/storage.py                       # local store, 256 MiB
    python bench/storage.py --size-mib 1024
    python bench/storage.py --s3-endpoint http://127.0.0.1:9000 --s3-bucket qianshu \\
        --s3-access-key-id KEY --s3-secret-access-key SECRET

Writes `bench/results/storage-<backend>.json`. Memory is the growth of the process's peak resident
set over the run (ru_maxrss), which stays flat when files stream in constant memory.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qianshu.config import Settings
from qianshu.core.runtime import Runtime
from qianshu.storage import service as storage_service
from qianshu.storage.providers import blob_store_for
from qianshu.vault import service as vault_service

MiB = 1024 * 1024
RESULTS = Path(__file__).parent / "results"


class _Generated(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size
        self.block = os.urandom(MiB)
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left, MiB - self.offset)
        b[:n] = self.block[self.offset : self.offset + n]
        self.offset = (self.offset + n) % MiB
        self.left -= n
        return n


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run(settings: Settings, size: int) -> dict[str, Any]:
    """Store and read back one `size`-byte file; return timings and memory growth."""
    runtime = Runtime(settings)
    try:
        runtime.migrate()
        vault_service.ensure_keys(runtime=runtime)
        blob_store_for(runtime)  # build the client (and load boto3) before measuring
        rss_before = _maxrss_mib()
        with runtime.transaction() as session:
            started = time.perf_counter()
            blob = storage_service.store_blob(
                session=session,
                clock=runtime.clock,
                owner_id="usr_bench000000000000000",
                stream=io.BufferedReader(_Generated(size), buffer_size=64 * 1024),
                media_type="application/octet-stream",
                max_bytes=size,
            )
            store_s = time.perf_counter() - started
        with runtime.transaction() as session:
            started = time.perf_counter()
            digest = hashlib.sha256()
            for piece in storage_service.read_blob(session=session, blob_id=blob.id):
                digest.update(piece)
            read_s = time.perf_counter() - started
        assert digest.hexdigest() == blob.sha256
        with runtime.transaction() as session:
            storage_service.delete_blob(session=session, clock=runtime.clock, blob_id=blob.id)
            storage_service.purge_object(session=session, blob_id=blob.id)
        return {
            "backend": settings.blob_backend,
            "size_mib": size / MiB,
            "store_mib_s": round(size / MiB / store_s, 1),
            "read_mib_s": round(size / MiB / read_s, 1),
            "peak_rss_growth_mib": round(_maxrss_mib() - rss_before, 1),
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
    finally:
        runtime.close()


def main(argv: list[str]) -> int:
    """Parse arguments, run the benchmark, print and record the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--s3-bucket", default="qianshu")
    parser.add_argument("--s3-region", default="us-east-1")
    parser.add_argument("--s3-access-key-id")
    parser.add_argument("--s3-secret-access-key")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        values: dict[str, Any] = {"data_dir": Path(tmp), "demo": False, "worker_in_process": False}
        if args.s3_endpoint:
            values.update(
                blob_backend="s3",
                s3_endpoint_url=args.s3_endpoint,
                s3_bucket=args.s3_bucket,
                s3_region=args.s3_region,
                s3_access_key_id=args.s3_access_key_id,
                s3_secret_access_key=args.s3_secret_access_key,
            )
        result = run(Settings(**values), args.size_mib * MiB)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"storage-{result['backend']}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
