"""Tables of the PKI: every certificate the CA issued, published CRLs, issued time-stamps.

Personal data: an end-entity certificate's DER necessarily carries the subject's name (it is
what the certificate certifies). No other column holds it; records are kept until `retain_until`
(expiry plus the legal retention period) even after the account is gone. When a person cancels
their account, the DER of their certificates is sealed under their retention key and the row keeps
only what the CA needs without personal data: `der` becomes empty and `redacted_at` is set.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base

# An auto-incrementing 64-bit key; SQLite only auto-increments "INTEGER PRIMARY KEY".
SerialKey = BigInteger().with_variant(Integer(), "sqlite")


class Certificate(Base):
    """A certificate issued by (or, for the root, of) this CA."""

    __tablename__ = "pki_certificate"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # root | issuing | tsa | ocsp | person | org
    subject_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    issuer_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)  # lower-case hex, no leading zeros
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the DER, hex
    der: Mapped[bytes] = mapped_column(LargeBinary)  # empty once redacted (see `redacted_at`)
    key_label: Mapped[str] = mapped_column(String(100))
    key_algorithm: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | superseded | revoked
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]
    superseded_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    retain_until: Mapped[datetime] = mapped_column(index=True)
    redacted_at: Mapped[datetime | None] = mapped_column(nullable=True)  # DER removed at cancellation


class Crl(Base):
    """One published CRL of a CA certificate; the newest number is the current one."""

    __tablename__ = "pki_crl"
    __table_args__ = (UniqueConstraint("issuer_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime]
    next_update: Mapped[datetime]
    der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Timestamp(Base):
    """One time-stamp token issued by the TSA; `id` is the sequence its serial number comes from."""

    __tablename__ = "pki_timestamp"

    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)  # hex of (id << 64 | 64 random bits)
    tsa_cert_id: Mapped[str] = mapped_column(String(32))
    gen_time: Mapped[datetime] = mapped_column(index=True)
    hash_algorithm: Mapped[str] = mapped_column(String(16))
    message_imprint: Mapped[str] = mapped_column(String(128))  # hex of the hashed message
    policy: Mapped[str] = mapped_column(String(64))
