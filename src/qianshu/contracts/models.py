"""Tables of the contracts domain: templates, documents, contracts, recipients and fields.

Contract content (PDFs, template bodies) lives in the blob store, encrypted per file (E1).
Titles, recipients' contact details, filled values and decline reasons are vault ciphertexts;
contacts also carry a blind index so a signed-in person finds the contracts waiting for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, LargeBinary, String, UniqueConstraint
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
    anonymised_at: Mapped[datetime | None] = mapped_column(nullable=True)  # retention period over (P13)


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


# --- integrator API: keys, idempotency, webhooks (contracts.apikeys, contracts.webhooks) --------


class ApiKey(Base):
    """An organisation's API key: only the SHA-256 of its secret is kept; scoped and revocable."""

    __tablename__ = "contracts_api_key"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # key_…, also the lookup prefix
    org_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(80))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    rate_limit: Mapped[int] = mapped_column(Integer)  # requests per minute
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class IdempotencyRecord(Base):
    """A contract creation sent with an `Idempotency-Key`: key and body as hashes, and the contract made."""

    __tablename__ = "contracts_idempotency"
    __table_args__ = (UniqueConstraint("owner_id", "key_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64))
    request_sha256: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[str] = mapped_column(String(32))  # written with the record, in the same transaction
    created_at: Mapped[datetime] = mapped_column(index=True)


class Webhook(Base):
    """An organisation's webhook endpoint: URL, subscribed events and its signing secret (sealed)."""

    __tablename__ = "contracts_webhook"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[Any]] = mapped_column(JSON)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # active | disabled
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One event sent (or to be sent) to one endpoint, with the outcome of its latest attempt."""

    __tablename__ = "contracts_webhook_delivery"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(32), index=True)
    org_id: Mapped[str] = mapped_column(String(32), index=True)
    event_id: Mapped[str] = mapped_column(String(32), index=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    replay_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ContractReminderPolicy(Base):
    """The sender's reminder setting of one contract (absent: the platform's defaults)."""

    __tablename__ = "contracts_reminder_policy"

    contract_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    every_days: Mapped[int] = mapped_column(Integer)  # 0: no automatic reminders
    before_deadline_hours: Mapped[int] = mapped_column(Integer)  # 0: no reminder before the deadline
    updated_at: Mapped[datetime]


class ContractReminder(Base):
    """One message nudging a waiting signer: automatic, before the deadline, manual, or after a hand-over."""

    __tablename__ = "contracts_reminder"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(32), index=True)
    recipient_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # auto | deadline | manual | handover
    sent_at: Mapped[datetime]


class ContractBulkSend(Base):
    """A CSV of signers sent against a template: one contract per good row, processed by jobs."""

    __tablename__ = "contracts_bulk_send"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    template_id: Mapped[str] = mapped_column(String(32))
    csv_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # dropped once processed
    deadline: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[Any]] = mapped_column(JSON)  # [{"line": n, "contract_id": "ctr_…"}]
    errors: Mapped[list[Any]] = mapped_column(JSON)  # [{"line": n, "reason": "…", "reason_en": "…"}]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ContractSealApproval(Base):
    """A request to use an organisation's seal (用印审批), waiting for its seal keeper's decision.

    It keeps what finishing the signature needs once approved: the agent, the filled values (vault
    ciphertext) and the cross-page choice. The agent's one-time intent code is never kept.
    """

    __tablename__ = "contracts_seal_approval"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(32), index=True)
    recipient_id: Mapped[str] = mapped_column(String(32), index=True)
    org_id: Mapped[str] = mapped_column(String(32), index=True)
    seal_id: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | approved | rejected | closed
    values_enc: Mapped[bytes] = mapped_column(LargeBinary)  # JSON of the agent's field values
    cross_page: Mapped[bool] = mapped_column(Boolean)
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
