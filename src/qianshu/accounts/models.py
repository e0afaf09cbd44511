"""Tables of accounts: users, server-side sessions, one-time codes and login throttles.

Personal fields are vault ciphertexts (`*_enc`, subject = the user) with HMAC blind indexes
(`*_bidx`) for lookup; nothing personal is stored in plain text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class User(Base):
    """A person's account: contact channels, password hash and role."""

    __tablename__ = "accounts_user"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # user | operator
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | disabled | cancelled
    phone_bidx: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    email_bidx: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    display_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # 签署密码: confirms the intent to sign (C4); argon2id like the login password, never the same
    signing_password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    signing_password_set_at: Mapped[datetime | None] = mapped_column(nullable=True)


class UserSession(Base):
    """A logged-in device: only the SHA-256 of its bearer token is stored."""

    __tablename__ = "accounts_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("accounts_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    method: Mapped[str] = mapped_column(String(16))  # password | sms | register | reset
    device: Mapped[str] = mapped_column(String(80))  # coarse label such as "Chrome · Windows"
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class OneTimeCode(Base):
    """A 6-digit code sent to a phone or e-mail address; stored as a keyed hash."""

    __tablename__ = "accounts_otp_code"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(24))  # register | login | reset | change_contact
    channel: Mapped[str] = mapped_column(String(8))  # phone | email
    target_bidx: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | used | superseded
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LoginThrottle(Base):
    """Failed attempts per account or client address (the key is hashed) and the lock they earn."""

    __tablename__ = "accounts_login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
