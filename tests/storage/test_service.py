"""The storage service: per-file encryption, streaming limits, tamper detection, deletion, sweeping.

Every test runs on the local store and on S3 (moto), and on SQLite and PostgreSQL when configured.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput, PayloadTooLarge
from qianshu.core.runtime import Runtime
from qianshu.jobs import service as jobs_service
from qianshu.storage import service as storage_service
from qianshu.storage.errors import BlobIntegrityError, BlobNotFound, ObjectMissing
from qianshu.storage.local_store import LocalBlobStore
from qianshu.storage.models import Blob
from qianshu.storage.providers import BlobStore, blob_store_for
from qianshu.storage.s3_store import S3BlobStore
from qianshu.storage.schemas import BlobRead
from qianshu.storage.stream_aead import HEADER_BYTES, TAG_BYTES, ciphertext_size
from qianshu.vault import service as vault_service

OWNER = "usr_0000000000000000ownr"
CHUNK = 64 * 1024
SEG = CHUNK + TAG_BYTES


def store_of(runtime: Runtime) -> BlobStore:
    return blob_store_for(runtime)


def put(
    session: Session,
    clock: FrozenClock,
    data: bytes | BinaryIO,
    *,
    owner_id: str = OWNER,
    media_type: str = "application/pdf",
    max_bytes: int = 10 * 1024 * 1024,
) -> BlobRead:
    return storage_service.store_blob(
        session=session,
        clock=clock,
        owner_id=owner_id,
        stream=data,
        media_type=media_type,
        max_bytes=max_bytes,
    )


def leftovers(store: BlobStore) -> list[str]:
    if isinstance(store, LocalBlobStore):
        return [p.name for p in (store.root / ".tmp").iterdir()]
    assert isinstance(store, S3BlobStore)
    return [u["Key"] for u in store._client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])]


def blob_rows(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Blob)) or 0)


def tamper(runtime: Runtime, blob_id: str, change: Callable[[bytes], bytes]) -> None:
    store = store_of(runtime)
    store.put(blob_id, change(store.read(blob_id)))


@pytest.mark.parametrize(
    "size", [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17, 200_000]
)
def test_round_trip(session: Session, clock: FrozenClock, runtime: Runtime, size: int) -> None:
    data = os.urandom(size)
    blob = put(session, clock, data)
    assert blob.id.startswith("blb_") and blob.owner_id == OWNER
    assert (blob.size, blob.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert blob.created_at == clock.now()
    assert storage_service.read_blob_bytes(session=session, blob_id=blob.id) == data
    pieces = list(storage_service.read_blob(session=session, blob_id=blob.id))
    assert b"".join(pieces) == data and all(0 < len(p) <= CHUNK for p in pieces)
    info = store_of(runtime).stat(blob.id)
    assert info is not None and info.size == ciphertext_size(size)
    row = session.get(Blob, blob.id)
    assert row is not None and row.stored_size == info.size


def test_streams_from_a_file(session: Session, clock: FrozenClock) -> None:
    data = os.urandom(150_000)
    blob = put(session, clock, io.BytesIO(data))
    assert storage_service.read_blob_bytes(session=session, blob_id=blob.id) == data
    assert storage_service.get_blob(session=session, blob_id=blob.id) == blob
    assert storage_service.get_blob_or_raise(session=session, blob_id=blob.id) == blob


def test_reading_outlives_the_session(runtime: Runtime, clock: FrozenClock) -> None:
    data = os.urandom(3 * CHUNK)
    with runtime.transaction() as s:
        blob = put(s, clock, data)
    with runtime.transaction() as s:
        reader = storage_service.read_blob(session=s, blob_id=blob.id)
    assert b"".join(reader) == data


def test_plaintext_never_reaches_disk_or_bucket(
    session: Session, clock: FrozenClock, runtime: Runtime
) -> None:
    marker = b"QIANSHU-PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    data = (marker + b" contract clause " * 50) * 300  # several chunks, the marker in each
    blob = put(session, clock, data, media_type="text/plain; charset=utf-8")
    session.commit()
    needles = (marker, marker[:16], b"contract clause")
    files = [p for p in Path(runtime.settings.data_dir).rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        assert not any(n in content for n in needles), path.name
    raw = store_of(runtime).read(blob.id)
    assert len(raw) == ciphertext_size(len(data))
    assert not any(n in raw for n in needles)
    row = session.get(Blob, blob.id)
    assert row is not None and not any(n in row.wrapped_key for n in needles)
    if isinstance(store_of(runtime), LocalBlobStore):
        assert any(p.name == blob.id for p in files)


def test_media_type_is_normalised_and_checked(session: Session, clock: FrozenClock) -> None:
    assert put(session, clock, b"x", media_type="Application/PDF").media_type == "application/pdf"
    text = put(session, clock, b"x", media_type="text/plain; charset=utf-8")
    assert text.media_type == "text/plain; charset=utf-8"
    for bad in ("pdf", "application/", "/pdf", "text/plain\r\nX: y", "a/b;", "x" * 300 + "/y"):
        with pytest.raises(InvalidInput):
            put(session, clock, b"x", media_type=bad)
    for owner in ("", "someone", "USR_1", "usr_" + "a" * 40, "usr_../x"):
        with pytest.raises(InvalidInput):
            put(session, clock, b"x", owner_id=owner)
    assert blob_rows(session) == 2


@pytest.mark.parametrize("limit", [100_000, 9 * 1024 * 1024])
def test_size_limit_mid_stream_leaves_nothing(
    session: Session, clock: FrozenClock, runtime: Runtime, limit: int
) -> None:
    pulled: list[int] = []

    class Upload(io.RawIOBase):
        """A client upload twice the limit, read piece by piece."""

        def __init__(self) -> None:
            self.left = 2 * limit

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            n = min(len(b), self.left)
            b[:n] = b"\xab" * n
            self.left -= n
            pulled.append(n)
            return n

    with pytest.raises(PayloadTooLarge) as err:
        put(session, clock, io.BufferedReader(Upload()), max_bytes=limit)
    assert err.value.extra["max_bytes"] == limit
    assert str(limit) in err.value.detail
    assert sum(pulled) <= limit + 2 * CHUNK  # stopped reading at the limit, not at the end
    store = store_of(runtime)
    assert list(store.iter_objects()) == []
    assert leftovers(store) == []
    assert blob_rows(session) == 0


def test_size_limit_is_inclusive(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    blob = put(session, clock, io.BytesIO(b"a" * 1000), max_bytes=1000)
    assert blob.size == 1000
    with pytest.raises(PayloadTooLarge):
        put(session, clock, b"a" * 1001, max_bytes=1000)
    with pytest.raises(PayloadTooLarge):
        put(session, clock, b"a", max_bytes=0)
    assert put(session, clock, b"", max_bytes=0).size == 0
    assert blob_rows(session) == 2


def test_default_limit_comes_from_settings(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    runtime.settings.max_upload_bytes = 10
    with pytest.raises(PayloadTooLarge):
        storage_service.store_blob(
            session=session, clock=clock, owner_id=OWNER, stream=io.BytesIO(b"x" * 11), media_type="a/b"
        )
    assert list(store_of(runtime).iter_objects()) == []


def test_flipped_byte_is_detected(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    data = os.urandom(3 * CHUNK)
    for offset in (0, 7, HEADER_BYTES + 5, HEADER_BYTES + SEG + 1, -1):
        blob = put(session, clock, data)

        def flip(raw: bytes, at: int = offset) -> bytes:
            b = bytearray(raw)
            b[at] ^= 0x04
            return bytes(b)

        tamper(runtime, blob.id, flip)
        with pytest.raises(BlobIntegrityError):
            storage_service.read_blob_bytes(session=session, blob_id=blob.id)


def test_truncation_is_detected(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    data = os.urandom(3 * CHUNK + 100)
    for cut in (1, 100 + TAG_BYTES, 100 + TAG_BYTES + SEG, HEADER_BYTES + 3 * SEG + 100 + TAG_BYTES - 5):
        blob = put(session, clock, data)

        def truncate(raw: bytes, c: int = cut) -> bytes:
            return raw[:-c]

        tamper(runtime, blob.id, truncate)
        with pytest.raises(BlobIntegrityError):
            storage_service.read_blob_bytes(session=session, blob_id=blob.id)


def test_swapped_chunks_are_detected(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    blob = put(session, clock, os.urandom(3 * CHUNK))

    def swap(raw: bytes) -> bytes:
        body = raw[HEADER_BYTES:]
        segs = [body[i : i + SEG] for i in range(0, len(body), SEG)]
        return raw[:HEADER_BYTES] + segs[1] + segs[0] + segs[2]

    tamper(runtime, blob.id, swap)
    with pytest.raises(BlobIntegrityError, match="chunk 0"):
        storage_service.read_blob(session=session, blob_id=blob.id)


def test_another_blobs_ciphertext_is_rejected(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    data = os.urandom(1000)
    a, b = put(session, clock, data), put(session, clock, data)
    store = store_of(runtime)
    store.put(b.id, store.read(a.id))
    with pytest.raises(BlobIntegrityError):
        storage_service.read_blob_bytes(session=session, blob_id=b.id)


def test_wrapped_key_is_bound_to_its_blob(session: Session, clock: FrozenClock) -> None:
    a, b = put(session, clock, b"first"), put(session, clock, b"second")
    row_a, row_b = session.get(Blob, a.id), session.get(Blob, b.id)
    assert row_a is not None and row_b is not None
    row_b.wrapped_key = row_a.wrapped_key
    session.flush()
    with pytest.raises(vault_service.VaultIntegrityError):
        storage_service.read_blob_bytes(session=session, blob_id=b.id)


def test_lost_object_is_reported(session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    blob = put(session, clock, b"gone")
    store_of(runtime).delete(blob.id)
    with pytest.raises(ObjectMissing):
        storage_service.read_blob(session=session, blob_id=blob.id)


def test_unknown_blobs(session: Session) -> None:
    for blob_id in ("blb_aaaaaaaaaaaaaaaaaaaa", "nonsense", "usr_aaaaaaaaaaaaaaaaaaaa", "../x"):
        assert storage_service.get_blob(session=session, blob_id=blob_id) is None
        with pytest.raises(BlobNotFound):
            storage_service.read_blob(session=session, blob_id=blob_id)
        with pytest.raises(BlobNotFound):
            storage_service.get_blob_or_raise(session=session, blob_id=blob_id)


def test_shredding_the_owner_shreds_their_files(
    session: Session, clock: FrozenClock, runtime: Runtime
) -> None:
    mine = put(session, clock, b"my contract")
    other = put(session, clock, b"theirs", owner_id="usr_00000000000000other")
    vault_service.destroy_data_key(session=session, clock=clock, subject_id=OWNER)
    with pytest.raises(vault_service.DataShredded):
        storage_service.read_blob_bytes(session=session, blob_id=mine.id)
    assert storage_service.read_blob_bytes(session=session, blob_id=other.id) == b"theirs"
    objects_before = {o.key for o in store_of(runtime).iter_objects()}
    with pytest.raises(vault_service.DataShredded):
        put(session, clock, b"new upload")
    assert {o.key for o in store_of(runtime).iter_objects()} == objects_before


def test_delete_removes_row_now_and_object_in_a_job(
    session: Session, clock: FrozenClock, runtime: Runtime, run_jobs: Callable[[], int]
) -> None:
    blob = put(session, clock, b"to be deleted")
    keep = put(session, clock, b"to be kept")
    storage_service.delete_blob(session=session, clock=clock, blob_id=blob.id)
    assert storage_service.get_blob(session=session, blob_id=blob.id) is None
    with pytest.raises(BlobNotFound):
        storage_service.read_blob(session=session, blob_id=blob.id)
    with pytest.raises(BlobNotFound):
        storage_service.delete_blob(session=session, clock=clock, blob_id=blob.id)
    session.commit()
    assert store_of(runtime).exists(blob.id)
    assert run_jobs() == 1
    assert not store_of(runtime).exists(blob.id)
    assert storage_service.read_blob_bytes(session=session, blob_id=keep.id) == b"to be kept"


def test_rolled_back_delete_keeps_the_blob(
    runtime: Runtime, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    with runtime.transaction() as s:
        blob = put(s, clock, b"still here")
    with pytest.raises(RuntimeError), runtime.transaction() as s:
        storage_service.delete_blob(session=s, clock=clock, blob_id=blob.id)
        raise RuntimeError("request failed")
    assert run_jobs() == 0
    with runtime.transaction() as s:
        assert storage_service.read_blob_bytes(session=s, blob_id=blob.id) == b"still here"


def test_sweep_removes_orphans_after_the_grace_period(runtime: Runtime, clock: FrozenClock) -> None:
    with runtime.transaction() as s:
        kept = put(s, clock, b"committed")
    with pytest.raises(RuntimeError), runtime.transaction() as s:
        orphan = put(s, clock, b"rolled back")
        raise RuntimeError("request failed")
    store = store_of(runtime)
    store.put("foreign-object", b"not ours")
    assert store.exists(orphan.id)
    written = max(o.modified_at for o in store.iter_objects())

    clock.set(written + timedelta(hours=1))
    with runtime.transaction() as s:
        assert storage_service.sweep_orphans(session=s, clock=clock).orphans_deleted == 0
    assert store.exists(orphan.id)

    clock.set(written + storage_service.ORPHAN_GRACE + timedelta(minutes=1))
    with runtime.transaction() as s:
        result = storage_service.sweep_orphans(session=s, clock=clock)
    assert result.orphans_deleted == 1
    assert not store.exists(orphan.id)
    assert store.exists(kept.id) and store.exists("foreign-object")
    with runtime.transaction() as s:
        assert storage_service.read_blob_bytes(session=s, blob_id=kept.id) == b"committed"


def test_sweep_is_scheduled_daily(runtime: Runtime, clock: FrozenClock, run_jobs: Callable[[], int]) -> None:
    storage_service.ensure_schedules(runtime=runtime)
    storage_service.ensure_schedules(runtime=runtime)
    with runtime.transaction() as s:
        queued = [j for j in jobs_service.list_jobs(session=s) if j.kind == storage_service.SWEEP_JOB]
    assert len(queued) == 1
    assert queued[0].run_after == storage_service.next_sweep_time(clock.now())
    clock.set(queued[0].run_after + timedelta(seconds=1))
    assert run_jobs() >= 1
    with runtime.transaction() as s:
        sweeps = [j for j in jobs_service.list_jobs(session=s) if j.kind == storage_service.SWEEP_JOB]
    assert sorted(j.status for j in sweeps) == ["done", "queued"]
    assert max(j.run_after for j in sweeps) == queued[0].run_after + timedelta(days=1)


def test_upload_holds_no_database_write_lock(runtime: Runtime, clock: FrozenClock) -> None:
    written: list[str] = []

    def upload() -> Iterator[bytes]:
        yield b"first part"
        with runtime.transaction() as other:  # another request writes while the bytes stream in
            written.append(
                jobs_service.enqueue(session=other, clock=clock, kind="storage.test_noop", payload={})
            )
        yield b"second part"

    with runtime.transaction() as s:
        blob = storage_service.store_blob(
            session=s,
            clock=clock,
            owner_id="usr_000000000000newowner",
            stream=upload(),
            media_type="text/plain",
            max_bytes=100,
        )
    assert len(written) == 1
    with runtime.transaction() as s:
        assert storage_service.read_blob_bytes(session=s, blob_id=blob.id) == b"first partsecond part"
