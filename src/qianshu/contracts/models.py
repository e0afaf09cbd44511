"""Tables of the contracts domain: templates, documents, contracts, recipients and fields.

Contract content (PDFs, template bodies) lives in the blob store, encrypted per file (E1).
Titles, recipients' contact details, filled values and decline reasons are vault ciphertexts;
contacts also carry a blind index so a signed-in person finds the contracts waiting for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class ContractTemplate(Base):
    """A reusable contract text with named variables (`{{name}}`); public ones need no login."""

    __tablename__ = "contracts_template"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(120))
    variables: Mapped[list[Any]] = mapped_column(JSON)
    body_blob_id: Mapped[str] = mapped_column(String(32))
    is_public: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class ContractDocument(Base):
    """An accepted PDF (uploaded or made from a template) with its page boxes."""

    __tablename__ = "contracts_document"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    blob_id: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[list[Any]] = mapped_column(JSON)  # [[x1, y1, x2, y2], …] MediaBox per page
    source: Mapped[str] = mapped_column(String(16))  # upload | template
    template_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Contract(Base):
    """A contract on its way from draft to completed (or declined, revoked, expired)."""

    __tablename__ = "contracts_contract"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    document_id: Mapped[str] = mapped_column(String(32))
    title_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), index=True)
    deadline: Mapped[datetime | None] = mapped_column(nullable=True)
    original_sha256: Mapped[str] = mapped_column(String(64))
    current_blob_id: Mapped[str] = mapped_column(String(32))
    signed_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    signed_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    log_entry_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    signatures: Mapped[int] = mapped_column(Integer)
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # decline/revoke reason
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ContractRecipient(Base):
    """A signer (person, or organisation through its agent) or a CC recipient of a contract."""

    __tablename__ = "contracts_recipient"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(8))  # signer | cc
    kind: Mapped[str] = mapped_column(String(8))  # person | org
    routing_order: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))  # phone | email
    contact_enc: Mapped[bytes] = mapped_column(LargeBinary)
    contact_bidx: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    seal_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # to notify later groups
    access_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    access_until: Mapped[datetime | None] = mapped_column(nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # waiting | signed | declined (cc: waiting)
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class ContractField(Base):
    """A field a signer fills: signature, seal, date, text or checkbox, on a page of the document."""

    __tablename__ = "contracts_field"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(32), index=True)
    recipient_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    page: Mapped[int] = mapped_column(Integer)  # 0-based
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    required: Mapped[bool] = mapped_column(Boolean)
    value_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    filled_at: Mapped[datetime | None] = mapped_column(nullable=True)
