"""Tables of the vault: one wrapped data key per person or organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class DataKey(Base):
    """A subject's AES-256 data key, wrapped by a key-encryption key; emptied when shredded."""

    __tablename__ = "vault_data_key"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # active | destroyed
    kek_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime]
    rewrapped_at: Mapped[datetime | None] = mapped_column(nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(nullable=True)
