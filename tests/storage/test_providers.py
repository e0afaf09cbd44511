"""Both blob stores against the `BlobStore` Protocol, on disk and on a real S3 HTTP server."""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qianshu.config import Settings
from qianshu.core.runtime import Runtime
from qianshu.storage.errors import ObjectMissing, StorageUnavailable
from qianshu.storage.local_store import LocalBlobStore
from qianshu.storage.providers import BlobStore, blob_store_for
from qianshu.storage.s3_store import MIN_PART_SIZE, S3BlobStore, normalise_prefix
from tests.storage.conftest import s3_client

KEY = "blb_0123456789abcdefghjk"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    s3: S3BlobStore = request.getfixturevalue("s3_store")
    return s3


def leftovers(store: BlobStore) -> list[str]:
    """Uploads in progress: temp files (local) or open multipart uploads (S3)."""
    if isinstance(store, LocalBlobStore):
        return [p.name for p in (store.root / ".tmp").iterdir()]
    assert isinstance(store, S3BlobStore)
    uploads = store._client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [u["Key"] for u in uploads]


def failing(first: bytes) -> Iterator[bytes]:
    yield first
    raise RuntimeError("upload interrupted")


@pytest.mark.parametrize("impl", [LocalBlobStore, S3BlobStore])
def test_implementation_matches_the_protocol(impl: type[Any]) -> None:
    for name, member in inspect.getmembers(BlobStore):
        if name.startswith("_"):
            continue
        assert hasattr(impl, name), name
        if inspect.isfunction(member):
            assert inspect.signature(getattr(impl, name)) == inspect.signature(member), name


def test_store_is_a_blob_store(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    assert store.backend in {"local", "s3"}


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 300_000])
def test_put_then_read_and_stream(store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    put = store.put(KEY, data)
    assert (put.key, put.size, put.sha256) == (KEY, size, hashlib.sha256(data).hexdigest())
    assert store.read(KEY) == data
    with store.open(KEY) as chunks:
        pieces = list(chunks)
    assert b"".join(pieces) == data
    assert all(len(p) <= 65536 for p in pieces)
    info = store.stat(KEY)
    assert info is not None and info.size == size and info.modified_at.tzinfo is not None


def test_put_accepts_files_and_iterables(store: BlobStore) -> None:
    data = os.urandom(100_000)
    store.put(KEY, io.BytesIO(data))
    assert store.read(KEY) == data
    store.put(KEY, iter([data[:10], b"", data[10:]]))
    assert store.read(KEY) == data
    with pytest.raises(TypeError, match="binary"):
        store.put(KEY, io.StringIO("text"))  # type: ignore[arg-type]
    assert store.read(KEY) == data


def test_put_replaces(store: BlobStore) -> None:
    store.put(KEY, b"one")
    store.put(KEY, b"two")
    assert store.read(KEY) == b"two"


def test_missing_objects(store: BlobStore) -> None:
    assert not store.exists(KEY)
    assert store.stat(KEY) is None
    with pytest.raises(ObjectMissing):
        store.open(KEY)
    with pytest.raises(ObjectMissing):
        store.read(KEY)
    store.delete(KEY)  # idempotent


def test_delete(store: BlobStore) -> None:
    store.put(KEY, b"x")
    assert store.exists(KEY)
    store.delete(KEY)
    assert not store.exists(KEY)
    store.delete(KEY)


def test_failed_put_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(RuntimeError, match="interrupted"):
        store.put(KEY, failing(b"partial"))
    assert not store.exists(KEY)
    assert leftovers(store) == []
    assert list(store.iter_objects()) == []


def test_failed_put_keeps_the_previous_object(store: BlobStore) -> None:
    store.put(KEY, b"old")
    with pytest.raises(RuntimeError):
        store.put(KEY, failing(b"new"))
    assert store.read(KEY) == b"old"


def test_iter_objects_lists_every_key(store: BlobStore) -> None:
    keys = {f"blb_{i:020d}" for i in range(5)}
    for key in keys:
        store.put(key, key.encode())
    listed = {o.key: o for o in store.iter_objects()}
    assert set(listed) == keys
    assert all(o.size == len(k) for k, o in listed.items())


def test_bad_keys_are_refused(store: BlobStore) -> None:
    for key in ("../etc/passwd", "a/b", "", ".hidden", "x" * 129, "blb_x y"):
        with pytest.raises(ValueError, match="key"):
            store.put(key, b"x")


def test_discard_incomplete_respects_the_cutoff(store: BlobStore) -> None:
    if isinstance(store, LocalBlobStore):
        part = store.root / ".tmp" / f"{KEY}.dead.part"
        part.write_bytes(b"half")
        started_at = datetime.fromtimestamp(part.stat().st_mtime, UTC)
    else:
        assert isinstance(store, S3BlobStore)
        up = store._client.create_multipart_upload(Bucket=store.bucket, Key=store.object_name(KEY))
        started_at = next(
            u["Initiated"]
            for u in store._client.list_multipart_uploads(Bucket=store.bucket)["Uploads"]
            if u["UploadId"] == up["UploadId"]
        )
    assert store.discard_incomplete(before=started_at - timedelta(seconds=5)) == 0
    assert len(leftovers(store)) == 1
    assert store.discard_incomplete(before=started_at + timedelta(seconds=5)) == 1
    assert leftovers(store) == []


# --- local specifics ---------------------------------------------------------------------


def test_local_files_are_private_and_sharded(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put(KEY, b"secret bytes")
    path = store.path_of(KEY)
    assert path.parent.parent.parent == store.root
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (store.root, path.parent, path.parent.parent, store.root / ".tmp"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert list((store.root / ".tmp").iterdir()) == []


def test_local_write_is_atomic(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    seen: list[bool] = []

    def watch() -> Iterator[bytes]:
        for _ in range(3):
            seen.append(store.exists(KEY))
            yield b"x" * 70_000

    store.put(KEY, watch())
    assert seen == [False, False, False]
    assert store.read(KEY) == b"x" * 210_000


def test_local_disk_errors_become_storage_unavailable(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (store.root / ".tmp").rmdir()
    (store.root / ".tmp").write_bytes(b"")  # the temp folder is now a file: open() fails with ENOTDIR
    with pytest.raises(StorageUnavailable):
        store.put(KEY, b"x")
    assert not store.exists(KEY)


# --- S3 specifics ------------------------------------------------------------------------


def test_s3_large_objects_go_up_in_parts(s3_store: S3BlobStore) -> None:
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    s3_store.put(KEY, data)
    head = s3_store._client.head_object(Bucket=s3_store.bucket, Key=s3_store.object_name(KEY))
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag names its part count
    assert s3_store.read(KEY) == data


def test_s3_exact_part_multiple(s3_store: S3BlobStore) -> None:
    data = os.urandom(2 * MIN_PART_SIZE)
    s3_store.put(KEY, data)
    assert s3_store.read(KEY) == data


def test_s3_failed_multipart_upload_is_aborted(s3_store: S3BlobStore) -> None:
    with pytest.raises(RuntimeError):
        s3_store.put(KEY, failing(os.urandom(MIN_PART_SIZE + 1)))
    assert leftovers(s3_store) == []
    assert not s3_store.exists(KEY)


def test_s3_objects_live_under_the_prefix(s3_store: S3BlobStore) -> None:
    s3_store.put(KEY, b"x")
    s3_store._client.put_object(Bucket=s3_store.bucket, Key="blobs/not a blob key", Body=b"y")
    s3_store._client.put_object(Bucket=s3_store.bucket, Key="elsewhere/blb_x", Body=b"y")
    names = [o["Key"] for o in s3_store._client.list_objects_v2(Bucket=s3_store.bucket)["Contents"]]
    assert f"blobs/{KEY}" in names
    assert [o.key for o in s3_store.iter_objects()] == [KEY]


def test_s3_unreachable_is_storage_unavailable(moto_endpoint: str) -> None:
    store = S3BlobStore(client=s3_client(moto_endpoint), bucket="no-such-bucket-here")
    with pytest.raises(StorageUnavailable):
        store.put(KEY, b"x")
    with pytest.raises(StorageUnavailable):
        list(store.iter_objects())


def test_s3_prefix_is_normalised() -> None:
    assert normalise_prefix("") == ""
    assert normalise_prefix("/blobs") == "blobs/"
    assert normalise_prefix("a/b/") == "a/b/"


def test_s3_refuses_parts_below_the_minimum(moto_endpoint: str) -> None:
    with pytest.raises(ValueError, match="5 MiB"):
        S3BlobStore(client=s3_client(moto_endpoint), bucket="x", part_size=1024)


# --- choosing a backend ------------------------------------------------------------------


def _runtime(tmp_path: Path, **overrides: Any) -> Runtime:
    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite://", **overrides)
    return Runtime(settings)


def test_setting_picks_the_local_store(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    try:
        store = blob_store_for(rt)
        assert isinstance(store, LocalBlobStore) and store.root == rt.settings.blobs_dir
        assert blob_store_for(rt) is store
    finally:
        rt.close()


def test_setting_picks_the_s3_store(tmp_path: Path, moto_endpoint: str, s3_bucket: str) -> None:
    rt = _runtime(
        tmp_path,
        blob_backend="s3",
        s3_endpoint_url=moto_endpoint,
        s3_bucket=s3_bucket,
        s3_prefix="p",
        s3_region="us-east-1",
        s3_access_key_id="k",
        s3_secret_access_key="s",
    )
    try:
        store = blob_store_for(rt)
        assert isinstance(store, S3BlobStore) and store.bucket == s3_bucket and store.prefix == "p/"
        store.put(KEY, b"through settings")
        assert store.read(KEY) == b"through settings"
    finally:
        rt.close()


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, blob_backend="ftp")
    try:
        with pytest.raises(ValueError, match="QIANSHU_BLOB_BACKEND"):
            blob_store_for(rt)
    finally:
        rt.close()
