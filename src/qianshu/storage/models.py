"""Tables of the blob store: one row per blob, holding its wrapped data key and plaintext digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class Blob(Base):
    """A stored file: owner, type, size and SHA-256 of the plaintext, and its data key sealed by the vault.

    The object itself (format of `storage.stream_aead`) lives in the blob store under the blob id.
    `wrapped_key` is the blob's AES-256 key sealed under the owner's vault data key, so
    crypto-shredding the owner makes their files unreadable too.
    """

    __tablename__ = "storage_blob"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(40), index=True)
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_size: Mapped[int] = mapped_column(BigInteger)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
