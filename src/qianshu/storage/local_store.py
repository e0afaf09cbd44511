"""`LocalBlobStore`: objects as files under the data directory, written atomically.

Layout (directories 0700, files 0600):

    <root>/<h[0:2]>/<h[2:4]>/<key>     h = hex SHA-256 of the key, so directories stay small
    <root>/.tmp/<key>.<random>.part    uploads in progress

A write goes to a temp file, is fsync'ed, renamed into place (atomic on POSIX, rename(2)), and
the directory is fsync'ed, so after a crash an object is either whole or absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from qianshu.core.logging import get_logger
from qianshu.storage.errors import ObjectMissing, StorageUnavailable
from qianshu.storage.providers import (
    READ_SIZE,
    ChunkStream,
    Data,
    ObjectStat,
    StoredObject,
    check_key,
    iter_chunks,
)

__all__ = ["LocalBlobStore"]

log = get_logger("qianshu.storage")
_TMP = ".tmp"
_PART = ".part"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _missing() -> ObjectMissing:
    return ObjectMissing("文件内容缺失", detail_en="The stored file content is missing")


def _unavailable(exc: OSError) -> StorageUnavailable:
    return StorageUnavailable(
        f"文件存储写入失败（{exc.strerror or type(exc).__name__}）",
        detail_en=f"File storage failed ({exc.strerror or type(exc).__name__})",
    )


class LocalBlobStore:
    """Blob store on the local file system (the embedded default)."""

    def __init__(self, root: Path, *, read_size: int = READ_SIZE) -> None:
        self.root = root
        self._read_size = read_size
        self._tmp = root / _TMP
        for path in (root, self._tmp):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)

    @property
    def backend(self) -> str:
        """Return `local`."""
        return "local"

    def path_of(self, key: str) -> Path:
        """Return the file that holds the object `key`."""
        digest = hashlib.sha256(check_key(key).encode("ascii")).hexdigest()
        return self.root / digest[:2] / digest[2:4] / key

    def _make_dirs(self, path: Path) -> None:
        created: list[Path] = []
        for parent in (path.parent.parent, path.parent):
            try:
                parent.mkdir(mode=0o700)
                created.append(parent)
            except FileExistsError:
                pass
        for parent in created:
            _fsync_dir(parent.parent)

    def put(self, key: str, data: Data) -> StoredObject:
        """Write `data` to a temp file, fsync it and rename it into place; leave nothing on failure."""
        path = self.path_of(key)
        tmp = self._tmp / f"{key}.{secrets.token_hex(8)}{_PART}"
        digest, size = hashlib.sha256(), 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
            with os.fdopen(fd, "wb") as fh:
                for piece in iter_chunks(data, self._read_size):
                    fh.write(piece)
                    digest.update(piece)
                    size += len(piece)
                fh.flush()
                os.fsync(fh.fileno())
            self._make_dirs(path)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                raise _unavailable(exc) from exc
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> ChunkStream:
        """Stream the file in pieces of `read_size`; raise ObjectMissing when absent."""
        try:
            fh = open(self.path_of(key), "rb")  # noqa: SIM115  # closed by the ChunkStream
        except FileNotFoundError:
            raise _missing() from None
        return ChunkStream(iter(lambda: fh.read(self._read_size), b""), fh.close)

    def read(self, key: str) -> bytes:
        """Return the whole file; raise ObjectMissing when absent."""
        try:
            return self.path_of(key).read_bytes()
        except FileNotFoundError:
            raise _missing() from None

    def delete(self, key: str) -> None:
        """Remove the file, if any."""
        path = self.path_of(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def exists(self, key: str) -> bool:
        """Tell whether the file exists."""
        return self.path_of(key).is_file()

    def stat(self, key: str) -> ObjectStat | None:
        """Return size and modification time of the file, or None."""
        try:
            st = self.path_of(key).stat()
        except FileNotFoundError:
            return None
        return ObjectStat(key=key, size=st.st_size, modified_at=datetime.fromtimestamp(st.st_mtime, UTC))

    def iter_objects(self) -> Iterator[ObjectStat]:
        """Yield every stored file (skipping uploads in progress)."""
        for first in sorted(self.root.iterdir()):
            if first.name == _TMP or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for entry in sorted(second.iterdir()):
                    if not entry.is_file():
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:  # deleted while we looked
                        continue
                    yield ObjectStat(
                        key=entry.name, size=st.st_size, modified_at=datetime.fromtimestamp(st.st_mtime, UTC)
                    )

    def discard_incomplete(self, *, before: datetime) -> int:
        """Delete temp files of uploads that were abandoned (a crash mid-write) before `before`."""
        removed = 0
        for entry in self._tmp.iterdir():
            if not entry.name.endswith(_PART):
                continue
            try:
                if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < before:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("storage_incomplete_discarded", backend="local", count=removed)
        return removed
