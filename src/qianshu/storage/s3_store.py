"""`S3BlobStore`: objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW) through boto3.

Objects are already encrypted by Qianshu before they are sent, so the object store never sees a
plaintext or a key. Large objects go up as multipart uploads (Amazon S3 API Reference,
CreateMultipartUpload / UploadPart / CompleteMultipartUpload): parts of `part_size` bytes (every
part but the last must be at least 5 MiB), so memory stays bounded by one part whatever the
object's size; a failed upload is aborted so no partial object or stray parts remain.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qianshu.core.clock import as_utc
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

if TYPE_CHECKING:
    from qianshu.config import Settings

__all__ = ["MIN_PART_SIZE", "S3BlobStore"]

log = get_logger("qianshu.storage")
MIN_PART_SIZE = 5 * 1024 * 1024  # S3 minimum size of every part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _unavailable(exc: Exception) -> StorageUnavailable:
    code = _code(exc) or type(exc).__name__
    return StorageUnavailable(
        f"对象存储请求失败（{code}）", detail_en=f"The object store request failed ({code})"
    )


def _missing() -> ObjectMissing:
    return ObjectMissing("文件内容缺失", detail_en="The stored file content is missing")


def normalise_prefix(prefix: str) -> str:
    """Return `prefix` without a leading slash and, unless empty, with one trailing slash."""
    prefix = prefix.strip().lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


class S3BlobStore:
    """Blob store in an S3 bucket under a key prefix."""

    def __init__(
        self,
        *,
        client: Any,
        bucket: str,
        prefix: str = "",
        part_size: int = DEFAULT_PART_SIZE,
        read_size: int = READ_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        from botocore.exceptions import BotoCoreError, ClientError

        self._client = client
        self.bucket = bucket
        self.prefix = normalise_prefix(prefix)
        self.part_size = part_size
        self._read_size = read_size
        self._client_error = ClientError
        self._errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> S3BlobStore:
        """Build the store from the `s3_*` settings (credentials fall back to boto3's chain)."""
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=60,
        )
        secret = settings.s3_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=config,
        )
        return cls(client=client, bucket=settings.s3_bucket, prefix=settings.s3_prefix, **kwargs)

    @property
    def backend(self) -> str:
        """Return `s3`."""
        return "s3"

    def object_name(self, key: str) -> str:
        """Return the S3 object key of the blob object `key`."""
        return self.prefix + check_key(key)

    def _not_found(self, exc: Exception) -> bool:
        return isinstance(exc, self._client_error) and _code(exc) in _NOT_FOUND

    def put(self, key: str, data: Data) -> StoredObject:
        """Upload `data`: one PutObject when small, else a multipart upload aborted on any failure."""
        name = self.object_name(key)
        digest, size = hashlib.sha256(), 0
        buf = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        def send_part(body: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
            number = len(parts) + 1
            resp = self._client.upload_part(
                Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
            )
            parts.append({"ETag": resp["ETag"], "PartNumber": number})

        try:
            for piece in iter_chunks(data, self._read_size):
                buf += piece
                digest.update(piece)
                size += len(piece)
                if len(buf) >= self.part_size:
                    with memoryview(buf) as view:
                        body = bytes(view[: self.part_size])
                    del buf[: self.part_size]
                    send_part(body)
                    del body
            if upload_id is None:
                self._client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buf))
            else:
                if buf:
                    send_part(bytes(buf))
                self._client.complete_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException as exc:
            if upload_id is not None:
                with contextlib.suppress(*self._errors):
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            if isinstance(exc, self._errors):
                raise _unavailable(exc) from exc
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> ChunkStream:
        """Stream the object (GetObject) in pieces of `read_size`; raise ObjectMissing when absent."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self.object_name(key))["Body"]
        except self._errors as exc:
            if self._not_found(exc):
                raise _missing() from None
            raise _unavailable(exc) from exc
        return ChunkStream(self._guard(body.iter_chunks(self._read_size)), body.close)

    def _guard(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from chunks
        except self._errors as exc:
            raise _unavailable(exc) from exc

    def read(self, key: str) -> bytes:
        """Return the whole object; raise ObjectMissing when absent."""
        with self.open(key) as stream:
            return b"".join(stream)

    def delete(self, key: str) -> None:
        """Delete the object (DeleteObject is idempotent)."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.object_name(key))
        except self._errors as exc:
            if not self._not_found(exc):
                raise _unavailable(exc) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=self.object_name(key))
        except self._errors as exc:
            if self._not_found(exc):
                return None
            raise _unavailable(exc) from exc
        return head

    def exists(self, key: str) -> bool:
        """Tell whether the object exists (HeadObject)."""
        return self._head(key) is not None

    def stat(self, key: str) -> ObjectStat | None:
        """Return the object's size and last-modified time, or None."""
        head = self._head(key)
        if head is None:
            return None
        return ObjectStat(key=key, size=int(head["ContentLength"]), modified_at=as_utc(head["LastModified"]))

    def iter_objects(self) -> Iterator[ObjectStat]:
        """Yield every object under the prefix (ListObjectsV2), skipping keys that are not ours."""
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])[len(self.prefix) :]
                    try:
                        check_key(key)
                    except ValueError:
                        continue
                    modified = as_utc(item["LastModified"])
                    yield ObjectStat(key=key, size=int(item["Size"]), modified_at=modified)
        except self._errors as exc:
            raise _unavailable(exc) from exc

    def discard_incomplete(self, *, before: datetime) -> int:
        """Abort multipart uploads under the prefix initiated before `before`; return how many."""
        removed = 0
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < before:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        except self._errors as exc:
            raise _unavailable(exc) from exc
        if removed:
            log.info("storage_incomplete_discarded", backend="s3", count=removed)
        return removed
