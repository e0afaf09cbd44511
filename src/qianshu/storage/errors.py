"""Errors of the blob store: unknown blobs, missing objects, ciphertexts that fail authentication."""

from __future__ import annotations

from qianshu.core.errors import NotFound, QianshuError, ServiceUnavailable

__all__ = ["BlobIntegrityError", "BlobNotFound", "ObjectMissing", "StorageUnavailable"]


class BlobNotFound(NotFound):
    """No blob with this id (never stored, or deleted)."""

    slug = "blob-not-found"
    title = "未找到该文件"
    title_en = "No such file"


class BlobIntegrityError(QianshuError):
    """A stored blob failed authentication: altered, truncated, reordered or misplaced."""

    slug = "blob-integrity"
    status = 500
    title = "文件完整性校验失败"
    title_en = "A stored file failed its integrity check"

    def __init__(self, reason: str, *, reason_zh: str) -> None:
        super().__init__(f"文件完整性校验失败：{reason_zh}", detail_en=f"Integrity check failed: {reason}")
        self.reason = reason


class ObjectMissing(QianshuError):  # named like the core.errors tree
    """The blob store holds no object under this key."""

    slug = "blob-object-missing"
    status = 500
    title = "文件内容缺失"
    title_en = "The stored file content is missing"


class StorageUnavailable(ServiceUnavailable):
    """The blob store could not be reached or refused the operation (disk full, S3 down)."""

    slug = "storage-unavailable"
    title = "文件存储暂不可用，请稍后再试"
    title_en = "File storage is unavailable"
