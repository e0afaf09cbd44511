"""Pydantic shapes of preservation, evidence reports and deliveries: requests in, records out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


class AuthorityKind(StrEnum):
    """Who may ask the platform for evidence on a documented request (PROMISES E3)."""

    ARBITRATION = "arbitration"  # 仲裁委员会
    COURT = "court"  # 人民法院
    APPRAISAL = "appraisal"  # 司法鉴定机构


class PreservationHashIn(BaseModel):
    """Preserve a file the user keeps: only its SHA-256 is submitted."""

    model_config = _STRICT

    sha256: str = Field(pattern=SHA256_PATTERN)
    label: str | None = Field(default=None, max_length=200)


class PreservationRead(BaseModel):
    """A preservation record; `label` is filled only for readers entitled to it."""

    id: str
    owner_id: str
    kind: Literal["file", "hash"]
    sha256: str
    size: int | None
    media_type: str | None
    label: str | None
    has_file: bool
    tst_time: datetime
    tst_serial: str
    tsa: str | None
    log_entry_id: str
    log_index: int | None
    status: Literal["pending", "certified"]
    certificate_sha256: str | None
    created_at: datetime
    certified_at: datetime | None


class ReportRequestIn(BaseModel):
    """A party asks for an evidence report on a subject it is party to."""

    model_config = _STRICT

    subject_kind: str = Field(default="preservation", max_length=16)
    subject_id: str = Field(min_length=1, max_length=40)
    note: str | None = Field(default=None, max_length=1000)


class DecisionIn(BaseModel):
    """An operator's reason for approving (optional) or rejecting (required) a request."""

    model_config = _STRICT

    reason: str | None = Field(default=None, max_length=1000)


class ReportRead(BaseModel):
    """An evidence report request, its decision and, once issued, the report's hash and log entry."""

    id: str
    subject_kind: str
    subject_id: str
    channel: Literal["party", "authority"]
    requested_by: str
    authority_kind: AuthorityKind | None
    authority_name: str | None
    reference_no: str | None
    has_request_document: bool
    note: str | None
    status: Literal["requested", "approved", "rejected", "issued"]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    report_sha256: str | None
    log_entry_id: str | None
    created_at: datetime
    issued_at: datetime | None


class DeliveryRead(BaseModel):
    """A report or bundle handed to an outside body: recipient, what, why, when (PROMISES P9)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    report_id: str
    subject_id: str
    recipient: str
    recipient_kind: str
    item: str
    purpose: str
    delivered_by: str
    delivered_at: datetime
    sharing_id: str | None


class VerifyStepOut(BaseModel):
    """One passed step of the bundle verifier."""

    number: int
    key: str
    title: str
    title_zh: str
    details: list[str]


class VerifyOut(BaseModel):
    """The public verifier's answer for an uploaded bundle or signed PDF."""

    kind: Literal["bundle", "pdf"]
    ok: bool
    subject_kind: str | None = None
    subject_id: str | None = None
    steps: list[VerifyStepOut] = Field(default_factory=list)
    failed_step: str | None = None
    reason: str | None = None
    pdf_report: dict[str, object] | None = None
