"""Tables of the notify domain: every message handed to a channel, its recipient and text sealed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class Message(Base):
    """One e-mail or text message; recipient, subject and body are vault ciphertexts."""

    __tablename__ = "notify_message"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms | email
    subject_id: Mapped[str] = mapped_column(String(40), index=True)  # whose data key seals the fields
    template: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(8))
    recipient_enc: Mapped[bytes] = mapped_column(LargeBinary)
    subject_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # e-mail only
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued|retrying|sent|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)  # never personal data
    created_at: Mapped[datetime] = mapped_column(index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
