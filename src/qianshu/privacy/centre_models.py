"""Tables of the privacy centre and compliance operations (migration 0011).

Requests with deadlines (P6), party decisions on contract-linked deletion (P8), data exports (P4),
the sharing register and staff-access log (P9, P10), operator sub-roles, the working-day calendar,
records kept under legal retention after cancellation (P7, P13), incidents (P12) and service
state for wind-down (P15). Free text written by or about a person is stored only as a vault
ciphertext (`*_enc`, subject = that person); plain columns hold ids, codes and dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class CalendarDay(Base):
    """An operator's entry in the working-day calendar; it overrides the bundled State Council data."""

    __tablename__ = "privacy_calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # holiday | workday | normal
    name: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(400), nullable=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class PrivacyRequest(Base):
    """A person's request about their data, answered by a deadline counted in working days."""

    __tablename__ = "privacy_request"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # deletion | contract_deletion | correction | complaint | …
    status: Mapped[str] = mapped_column(String(24), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    field: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    otp_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    working_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calendar_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    execute_after: Mapped[datetime | None] = mapped_column(nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolution_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    near_due_alerted_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    overdue_alerted_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime]


class RequestStep(Base):
    """One step in a request's life, shown to the person; notes are sealed under their key."""

    __tablename__ = "privacy_request_step"
    __table_args__ = (UniqueConstraint("request_id", "seq", name="uq_privacy_request_step_request_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("privacy_request.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(24))  # subject | party | staff | system
    action: Mapped[str] = mapped_column(String(40))
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class PartyDecision(Base):
    """Whether one party of an object agrees to a contract-linked deletion (P8)."""

    __tablename__ = "privacy_party_decision"
    __table_args__ = (
        UniqueConstraint("request_id", "party_id", name="uq_privacy_party_decision_request_party"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("privacy_request.id"), index=True)
    party_id: Mapped[str] = mapped_column(String(40), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # pending | agree | refuse
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DataExport(Base):
    """A copy of everything held about a person (P4): JSON and PDF blobs, offered by an expiring link."""

    __tablename__ = "privacy_export"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | ready | failed | expired
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    ready_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    json_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pdf_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    json_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)


class SharingRecord(Base):
    """One outbound transfer of a person's data to a named third party (P9)."""

    __tablename__ = "privacy_sharing"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(120))
    recipient_kind: Mapped[str] = mapped_column(
        String(32)
    )  # ca | identity_provider | sms | email | arbitration | …
    fields: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    shared_at: Mapped[datetime] = mapped_column(index=True)


class StaffAccess(Base):
    """A staff member saw a person's personal data in clear (P10); the note is sealed under their key."""

    __tablename__ = "privacy_staff_access"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(32), index=True)
    staff_role: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    fields: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(32))  # a reason code, see privacy.staff.REASONS
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    accessed_at: Mapped[datetime] = mapped_column(index=True)


class StaffRole(Base):
    """An operator sub-role held by one operator account (least privilege)."""

    __tablename__ = "privacy_staff_role"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(24), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime]


class RetentionHold(Base):
    """Records of a cancelled person kept because the law says so, until `retain_until` (P7)."""

    __tablename__ = "privacy_retention_hold"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    category: Mapped[str] = mapped_column(String(32))
    basis: Mapped[str] = mapped_column(String(120))
    retain_until: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RetainedRecord(Base):
    """One value kept under legal retention, sealed under the person's retention key."""

    __tablename__ = "privacy_retained_record"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hold_id: Mapped[str] = mapped_column(ForeignKey("privacy_retention_hold.id"), index=True)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(120))  # domain.field, e.g. accounts.display_name
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class LegalHold(Base):
    """A hold that stops the retention engine from purging a person's or a category's data (P13)."""

    __tablename__ = "privacy_legal_hold"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reference: Mapped[str] = mapped_column(String(120))  # case or order number, no personal data
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime]
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)


class NotificationPreference(Base):
    """A person's choice of marketing channels (P17); absent row = no marketing at all."""

    __tablename__ = "privacy_notification_pref"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    marketing_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    marketing_email: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class Incident(Base):
    """A personal-information security incident (P12); texts are written by staff without personal data."""

    __tablename__ = "privacy_incident"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    impact: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    advice: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))  # low | medium | high | critical
    categories: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | notified | reported | closed
    occurred_from: Mapped[datetime]
    occurred_to: Mapped[datetime | None] = mapped_column(nullable=True)
    discovered_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    affected_count: Mapped[int] = mapped_column(Integer, default=0)
    notified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class IncidentSubject(Base):
    """A person affected by an incident and when they were told."""

    __tablename__ = "privacy_incident_subject"

    incident_id: Mapped[str] = mapped_column(ForeignKey("privacy_incident.id"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    notified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ServiceState(Base):
    """A platform-wide switch kept by privacy (e.g. wind-down: collection stopped)."""

    __tablename__ = "privacy_service_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
