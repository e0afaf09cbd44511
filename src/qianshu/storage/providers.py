"""Where blob ciphertexts live: the `BlobStore` Protocol, and the setting that picks a backend.

A blob store keeps opaque bytes under a key; it never sees a plaintext or a key (the service
encrypts before `put` and decrypts after `open`). Backends:

- `LocalBlobStore` (`storage/local_store.py`): files under `settings.blobs_dir`, the default.
- `S3BlobStore` (`storage/s3_store.py`): an S3-compatible object store through boto3.

`QIANSHU_BLOB_BACKEND` (`local` | `s3`) chooses one; `blob_store_for(runtime)` builds it once per
runtime.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

if TYPE_CHECKING:
    from qianshu.core.runtime import Runtime

__all__ = [
    "BACKENDS",
    "READ_SIZE",
    "BlobStore",
    "ChunkStream",
    "Data",
    "ObjectStat",
    "StoredObject",
    "blob_store_for",
    "check_key",
    "iter_chunks",
]

READ_SIZE = 64 * 1024
BACKENDS = ("local", "s3")
_COMPONENT = "storage.blob_store"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

Data = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


@dataclass(frozen=True)
class StoredObject:
    """What `put` wrote: the key, and the size and SHA-256 (hex) of the stored bytes."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectStat:
    """An object's key, stored size and last-modified time (aware UTC)."""

    key: str
    size: int
    modified_at: datetime


class ChunkStream(Iterator[bytes]):
    """Byte chunks of a stored object; releases the source when exhausted or closed."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._close = close
        self._closed = False

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the file handle or HTTP response behind the stream."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@runtime_checkable
class BlobStore(Protocol):
    """Keeps opaque byte objects under keys; writes are all-or-nothing."""

    @property
    def backend(self) -> str:
        """Return the backend name (`local`, `s3`)."""
        ...

    def put(self, key: str, data: Data) -> StoredObject:
        """Store `data` under `key` (replacing any object there); nothing is left if `data` raises."""
        ...

    def open(self, key: str) -> ChunkStream:
        """Stream the object's bytes; raise ObjectMissing when there is none."""
        ...

    def read(self, key: str) -> bytes:
        """Return the object's bytes; raise ObjectMissing when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; do nothing when there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under `key`."""
        ...

    def stat(self, key: str) -> ObjectStat | None:
        """Return the object's size and modification time, or None when there is none."""
        ...

    def iter_objects(self) -> Iterator[ObjectStat]:
        """Yield every object this store holds (for the orphan sweep)."""
        ...

    def discard_incomplete(self, *, before: datetime) -> int:
        """Remove uploads abandoned before `before` (temp files, multipart uploads); return how many."""
        ...


def check_key(key: str) -> str:
    """Return `key` when it is a safe object key (letters, digits, `_.-`, at most 128)."""
    if not _KEY_RE.fullmatch(key):
        raise ValueError("bad object key")
    return key


def iter_chunks(data: Data, size: int = READ_SIZE) -> Iterator[bytes]:
    """Yield `data` (bytes, a binary file or an iterable of bytes) in pieces of at most `size`."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    read = getattr(data, "read", None)
    if callable(read):
        while True:
            piece = read(size)
            if not piece:
                return
            if not isinstance(piece, bytes | bytearray):
                raise TypeError("blob streams must be opened in binary mode")
            yield bytes(piece)
    else:
        for piece in data:
            if not isinstance(piece, bytes | bytearray | memoryview):
                raise TypeError("blob streams must yield bytes")
            for start in range(0, len(piece), size):
                yield bytes(piece[start : start + size])


def _build(runtime: Runtime) -> BlobStore:
    settings = runtime.settings
    backend = settings.blob_backend.strip().lower()
    if backend == "local":
        from qianshu.storage.local_store import LocalBlobStore

        return LocalBlobStore(settings.blobs_dir)
    if backend == "s3":
        from qianshu.storage.s3_store import S3BlobStore

        return S3BlobStore.from_settings(settings)
    raise ValueError(f"QIANSHU_BLOB_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")


def blob_store_for(runtime: Runtime) -> BlobStore:
    """Return the runtime's blob store (component `storage.blob_store`), built from the settings."""
    return runtime.component(_COMPONENT, _build)
