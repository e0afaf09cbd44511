"""Tables of real-name verification: attempts, verified persons, document images, guardian consents.

Every personal value is a vault ciphertext (`*_enc`, subject = the person, bound to table, column
and row); ID and document numbers also have an HMAC blind index (`*_bidx`) so one document can
verify one account only. Sensitive elements (phone, bank card, face photo) are kept only while a
check is pending and erased when it ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class Verification(Base):
    """One attempt to verify a person at a level, automatic or by manual review."""

    __tablename__ = "identity_verification"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    level: Mapped[str] = mapped_column(
        String(16)
    )  # two_elements | three_elements | four_elements | face | manual
    # awaiting_elements | pending | in_review | verified | failed | cancelled
    status: Mapped[str] = mapped_column(String(20), index=True)
    doc_type: Mapped[str] = mapped_column(String(32))  # resident_id | passport | hk_macao_permit | …
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    id_number_bidx: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    birth_date_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    bank_card_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    face_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    face_content_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    guardian_consent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(32), nullable=True)  # reason code, no data
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # reason code
    review_note_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, nullable=True
    )  # staff's words to the person
    reviewer_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    provider_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Person(Base):
    """A verified person: the strongest level reached, and the identity it rests on."""

    __tablename__ = "identity_person"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    doc_type: Mapped[str] = mapped_column(String(32))
    verification_id: Mapped[str] = mapped_column(ForeignKey("identity_verification.id"))
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_bidx: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date_enc: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verified_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DocumentImage(Base):
    """One image of an identity document sent for manual review, encrypted."""

    __tablename__ = "identity_document_image"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    verification_id: Mapped[str] = mapped_column(ForeignKey("identity_verification.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    data_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class GuardianConsent(Base):
    """A minor's request for a guardian's consent, and the guardian's confirmation (个保法 第31条)."""

    __tablename__ = "identity_guardian_consent"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    minor_user_id: Mapped[str] = mapped_column(String(32), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # requested | confirmed | revoked
    guardian_user_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    relationship: Mapped[str | None] = mapped_column(String(16), nullable=True)  # parent | guardian
    child_id_bidx: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
