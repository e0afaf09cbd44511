"""Store and read contract and evidence files, encrypted per file (PROMISES E1).

Each blob gets its own random AES-256 data key. The content is encrypted in 64 KiB chunks
(`storage.stream_aead`, the STREAM construction) before it reaches the blob store, so neither the
disk nor the object store ever holds a plaintext, and large files stream in constant memory. The
data key is sealed by the vault under the owner's data key (bound to table, column and blob id)
and kept in the `storage_blob` row, so crypto-shredding the owner shreds their files as well.
Files are never parsed here: only their size and SHA-256 are recorded.

Consistency between the row and the object: the object is written first, then the row is
flushed in the caller's transaction. If that transaction rolls back, the object is an orphan
(unreadable: its key went with the row); `sweep_orphans` removes such objects after a grace
period. Deleting removes the row now and the object in a job queued in the same transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput, PayloadTooLarge
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.storage.errors import BlobIntegrityError, BlobNotFound, ObjectMissing, StorageUnavailable
from qianshu.storage.models import Blob
from qianshu.storage.providers import BlobStore, blob_store_for, iter_chunks
from qianshu.storage.schemas import BlobRead, SweepResult
from qianshu.storage.stream_aead import BlobDecryptor, encrypt_chunks, new_key
from qianshu.vault import service as vault_service

__all__ = [
    "DELETE_JOB",
    "ORPHAN_GRACE",
    "SWEEP_JOB",
    "BlobIntegrityError",
    "BlobNotFound",
    "BlobRead",
    "ObjectMissing",
    "StorageUnavailable",
    "SweepResult",
    "blob_store",
    "delete_blob",
    "ensure_schedules",
    "get_blob",
    "get_blob_or_raise",
    "next_sweep_time",
    "purge_object",
    "read_blob",
    "read_blob_bytes",
    "schedule_sweep",
    "store_blob",
    "sweep_orphans",
]

log = get_logger("qianshu.storage")

DELETE_JOB = "storage.delete_object"
SWEEP_JOB = "storage.sweep_orphans"
SWEEP_TIME_UTC = time(20, 30)  # 04:30 in China Standard Time, off-peak
ORPHAN_GRACE = timedelta(hours=24)  # far longer than any upload or transaction
_TABLE, _KEY_COLUMN = "storage_blob", "wrapped_key"
_BLOB_PREFIX = "blb"
_SWEEP_BATCH = 500
# RFC 6838 §4.2: type-name "/" subtype-name, each restricted-name (1..127 characters).
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_PARAMETERS = r"(?:\s*;\s*[\x21-\x7e]+=[\x20-\x7e]+)*"
_MEDIA_TYPE_RE = re.compile(rf"^({_RESTRICTED_NAME})/({_RESTRICTED_NAME})({_PARAMETERS})$")
_OWNER_RE = re.compile(r"^[a-z]{2,5}_[0-9a-z]{1,34}$")


def blob_store(*, session: Session) -> BlobStore:
    """Return the blob store of the runtime that opened `session`."""
    return blob_store_for(runtime_of(session))


def _check_media_type(media_type: str) -> str:
    value = media_type.strip()
    match = _MEDIA_TYPE_RE.fullmatch(value) if len(value) <= 255 else None
    if match is None:
        raise InvalidInput("文件类型格式无效", detail_en="Malformed media type (RFC 6838 type/subtype)")
    return f"{match.group(1).lower()}/{match.group(2).lower()}{match.group(3)}"


def _check_owner(owner_id: str) -> str:
    if not _OWNER_RE.fullmatch(owner_id):
        raise InvalidInput("文件所有者标识无效", detail_en="Malformed owner id")
    return owner_id


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"文件超过 {limit} 字节的大小上限",
        detail_en=f"The file is over the {limit}-byte limit",
        max_bytes=limit,
    )


class _Meter:
    """Count and hash plaintext as it streams past, refusing it once it passes the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.digest = hashlib.sha256()

    def watch(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for piece in chunks:
            self.size += len(piece)
            if self.size > self.limit:
                raise _too_large(self.limit)
            self.digest.update(piece)
            yield piece


def store_blob(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    stream: BinaryIO | bytes | Iterable[bytes],
    media_type: str,
    max_bytes: int | None = None,
) -> BlobRead:
    """Encrypt and store a file for `owner_id`, streaming; raise PayloadTooLarge past `max_bytes`.

    `max_bytes` defaults to `settings.max_upload_bytes`. On any failure nothing is left behind:
    no object (the store's write is all-or-nothing) and no row. The upload runs before anything
    is written to the database, so on SQLite it holds no write lock while bytes stream in (as long
    as the caller has not written in this transaction yet).
    """
    runtime = runtime_of(session)
    limit = runtime.settings.max_upload_bytes if max_bytes is None else max_bytes
    if limit < 0:
        raise ValueError("max_bytes must not be negative")
    media = _check_media_type(media_type)
    _check_owner(owner_id)
    if isinstance(stream, bytes | bytearray | memoryview) and len(stream) > limit:
        raise _too_large(limit)
    if vault_service.is_shredded(session=session, subject_id=owner_id):
        raise vault_service.DataShredded(
            "该主体的数据密钥已销毁，无法再为其保存文件", detail_en="The owner's data key was destroyed"
        )
    store = blob_store_for(runtime)
    blob_id = new_id(_BLOB_PREFIX)
    key = new_key()
    meter = _Meter(limit)
    ciphertext = encrypt_chunks(key=key, blob_id=blob_id, chunks=meter.watch(iter_chunks(stream)))
    stored = store.put(blob_id, ciphertext)
    try:
        wrapped = vault_service.encrypt_bytes(
            session=session, subject_id=owner_id, table=_TABLE, column=_KEY_COLUMN, row_id=blob_id, value=key
        )
        row = Blob(
            id=blob_id,
            owner_id=owner_id,
            media_type=media,
            size=meter.size,
            sha256=meter.digest.hexdigest(),
            stored_size=stored.size,
            wrapped_key=wrapped,
            created_at=clock.now(),
        )
        session.add(row)
        session.flush()
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(blob_id)
        raise
    log.info("blob_stored", blob_id=blob_id, size=row.size, backend=store.backend)
    return BlobRead.model_validate(row)


def get_blob(*, session: Session, blob_id: str) -> BlobRead | None:
    """Return the blob `blob_id`, or None."""
    row = session.get(Blob, blob_id) if is_id(blob_id, _BLOB_PREFIX) else None
    return None if row is None else BlobRead.model_validate(row)


def _row_or_raise(session: Session, blob_id: str) -> Blob:
    row = session.get(Blob, blob_id) if is_id(blob_id, _BLOB_PREFIX) else None
    if row is None:
        raise BlobNotFound("未找到该文件", detail_en="No such file")
    return row


def get_blob_or_raise(*, session: Session, blob_id: str) -> BlobRead:
    """Return the blob `blob_id` or raise BlobNotFound."""
    return BlobRead.model_validate(_row_or_raise(session, blob_id))


def read_blob(*, session: Session, blob_id: str) -> BlobDecryptor:
    """Stream the blob's plaintext, each chunk authenticated; raise BlobIntegrityError on tampering.

    Not found, shredded (DataShredded), missing object and a bad header or first chunk are raised
    here; a later chunk that fails raises from the iterator, and the caller must then discard what
    it read. The iterator needs no session, so it can outlive the request's transaction; close it
    (or use it as a context manager) when stopping early.
    """
    row = _row_or_raise(session, blob_id)
    key = vault_service.decrypt_bytes(
        session=session,
        subject_id=row.owner_id,
        table=_TABLE,
        column=_KEY_COLUMN,
        row_id=row.id,
        blob=row.wrapped_key,
    )
    source = blob_store_for(runtime_of(session)).open(row.id)
    return BlobDecryptor(
        key=key, blob_id=row.id, source=source, expect_size=row.size, expect_sha256=row.sha256
    )


def read_blob_bytes(*, session: Session, blob_id: str) -> bytes:
    """Return the blob's whole plaintext, verified end to end before it is returned."""
    with read_blob(session=session, blob_id=blob_id) as chunks:
        return b"".join(chunks)


def delete_blob(*, session: Session, clock: Clock, blob_id: str) -> None:
    """Delete the blob's row (and with it its key) now, and queue removal of its object."""
    from qianshu.jobs import service as jobs_service

    row = _row_or_raise(session, blob_id)
    session.delete(row)
    session.flush()
    jobs_service.enqueue(session=session, clock=clock, kind=DELETE_JOB, payload={"blob_id": blob_id})
    log.info("blob_deleted", blob_id=blob_id)


def purge_object(*, session: Session, blob_id: str) -> bool:
    """Remove the object of a deleted blob from the store; return False if the blob still exists."""
    if session.get(Blob, blob_id) is not None:
        return False
    blob_store(session=session).delete(blob_id)
    return True


def _delete_orphans(session: Session, store: BlobStore, keys: list[str]) -> int:
    known = set(session.scalars(select(Blob.id).where(Blob.id.in_(keys))))
    removed = 0
    for key in keys:
        if key not in known:
            store.delete(key)
            removed += 1
    return removed


def sweep_orphans(*, session: Session, clock: Clock, grace: timedelta = ORPHAN_GRACE) -> SweepResult:
    """Delete objects older than `grace` that have no blob row, and uploads abandoned as long ago.

    The store's prefix (or folder) must belong to this instance alone: objects of another
    database look like orphans here.
    """
    store = blob_store(session=session)
    cutoff = clock.now() - grace
    incomplete = store.discard_incomplete(before=cutoff)
    removed, batch = 0, []
    for stat in store.iter_objects():
        if stat.modified_at >= cutoff or not is_id(stat.key, _BLOB_PREFIX):
            continue
        batch.append(stat.key)
        if len(batch) >= _SWEEP_BATCH:
            removed += _delete_orphans(session, store, batch)
            batch = []
    if batch:
        removed += _delete_orphans(session, store, batch)
    if removed or incomplete:
        log.info("storage_swept", orphans=removed, incomplete=incomplete, backend=store.backend)
    return SweepResult(orphans_deleted=removed, incomplete_discarded=incomplete)


def next_sweep_time(now: datetime) -> datetime:
    """Return the next daily sweep slot after `now`."""
    slot = now.replace(hour=SWEEP_TIME_UTC.hour, minute=SWEEP_TIME_UTC.minute, second=0, microsecond=0)
    return slot if slot > now else slot + timedelta(days=1)


def schedule_sweep(*, session: Session, clock: Clock) -> str:
    """Queue the orphan sweep for the next daily slot (once per slot); return the job id."""
    from qianshu.jobs import service as jobs_service

    now = clock.now()
    run_at = next_sweep_time(now)
    return jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=SWEEP_JOB,
        payload={},
        delay=run_at - now,
        dedupe_key=f"{SWEEP_JOB}:{run_at.date().isoformat()}",
    )


def ensure_schedules(*, runtime: Runtime) -> None:
    """Startup hook: check the blob store settings and make sure the next sweep is queued."""
    from qianshu.jobs.schedules import schedule_once

    blob_store_for(runtime)
    with runtime.transaction() as session:  # race-free when several processes start at once
        run_at = next_sweep_time(runtime.clock.now())
        schedule_once(
            session=session,
            clock=runtime.clock,
            kind=SWEEP_JOB,
            payload={},
            run_at=run_at,
            key=f"{SWEEP_JOB}:{run_at.date().isoformat()}",
        )
