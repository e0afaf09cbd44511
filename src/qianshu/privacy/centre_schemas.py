"""Pydantic shapes of the privacy centre, requests, registers, exports, incidents and statistics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CorrectionMode = Literal["self", "reverify", "request", "none"]
MaskKind = Literal["phone", "email", "name", "id_number", "bank_card", "ip", "none"]


# --- the centre --------------------------------------------------------------------------------


class DataField(BaseModel):
    """One personal datum in a section: its value (clear for the owner, masked for anyone else)."""

    name: str
    label: str
    label_en: str
    value: str | None
    mask: MaskKind = "none"
    sensitive: bool = False
    correct: CorrectionMode = "none"
    correct_url: str | None = None


class DataSection(BaseModel):
    """What one domain holds about a person: single fields and lists of records."""

    key: str
    title: str
    title_en: str
    fields: list[DataField] = Field(default_factory=list)
    records: list[dict[str, Any]] = Field(default_factory=list)
    record_masks: dict[str, MaskKind] = Field(default_factory=dict)
    note: str | None = None
    note_en: str | None = None


class PrivacyCentre(BaseModel):
    """Everything the platform holds about one person, grouped by category."""

    user_id: str
    generated_at: datetime
    masked: bool
    sections: list[DataSection]


# --- requests ----------------------------------------------------------------------------------


class RequestStepRead(BaseModel):
    """One step of a request, as the person sees it."""

    seq: int
    at: datetime
    actor_role: str
    action: str
    note: str | None


class PartyDecisionRead(BaseModel):
    """One party's answer to a contract-linked deletion."""

    party_id: str
    decision: Literal["pending", "agree", "refuse"]
    decided_at: datetime | None


class RequestRead(BaseModel):
    """A request with its deadline and history."""

    id: str
    user_id: str
    kind: str
    status: str
    object_type: str | None
    object_id: str | None
    field: str | None
    details: str | None
    created_at: datetime
    verified_at: datetime | None
    due_on: date | None
    working_days: int | None
    calendar_provisional: bool
    execute_after: datetime | None
    assigned_to: str | None
    resolution: str | None
    resolution_note: str | None
    closed_at: datetime | None
    flag: Literal["none", "near_due", "overdue"]
    working_days_left: int | None
    steps: list[RequestStepRead] = Field(default_factory=list)
    parties: list[PartyDecisionRead] = Field(default_factory=list)


class RequestCreate(BaseModel):
    """What a person sends to open a request (a one-time code is sent to confirm it)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["deletion", "contract_deletion", "correction", "complaint", "access", "portability"]
    details: str = Field(default="", max_length=2000)
    field: str | None = Field(default=None, max_length=64)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64)


class RequestConfirm(BaseModel):
    """The one-time code that confirms a request."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=12)


class RequestResolve(BaseModel):
    """An operator's answer to a request."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["completed", "rejected"]
    note: str = Field(default="", max_length=2000)


class PartyAnswer(BaseModel):
    """A party's decision on a contract-linked deletion."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["agree", "refuse"]


class CodeChallenge(BaseModel):
    """A one-time code went to the person's phone or e-mail to confirm who they are."""

    request_id: str
    channel: Literal["phone", "email"]
    sent_to: str
    expires_in: int


# --- registers ---------------------------------------------------------------------------------


class SharingRead(BaseModel):
    """One outbound transfer of a person's data (P9)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    subject_id: str
    recipient: str
    recipient_kind: str
    fields: list[str]
    purpose: str
    legal_basis: str
    object_id: str | None
    actor: str
    shared_at: datetime


class StaffAccessRead(BaseModel):
    """One staff access to a person's data in clear (P10)."""

    id: str
    staff_id: str
    staff_role: str
    subject_id: str
    fields: list[str]
    reason: str
    reason_label: str
    note: str | None
    object_id: str | None
    accessed_at: datetime


class StaffRoleRead(BaseModel):
    """An operator's sub-role."""

    model_config = ConfigDict(from_attributes=True)

    user_id: str
    role: str
    granted_by: str
    granted_at: datetime


class RevealRequest(BaseModel):
    """A staff member asks to see a person's data in clear, saying why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=32)
    note: str = Field(default="", max_length=400)
    object_id: str | None = Field(default=None, max_length=64)


# --- exports, cancellation, preferences ---------------------------------------------------------


class ExportRead(BaseModel):
    """A data copy and where it stands."""

    id: str
    status: str
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime
    json_sha256: str | None
    pdf_sha256: str | None
    downloads: int


class ExportCreated(ExportRead):
    """A data copy just asked for, with its download token (shown once)."""

    token: str


class Blocker(BaseModel):
    """Why an account cannot be cancelled yet."""

    code: str
    message: str
    message_en: str
    count: int = 0


class CancellationPreview(BaseModel):
    """What cancelling would do: blockers, the cooling-off period and what is kept by law."""

    can_cancel: bool
    blockers: list[Blocker]
    cooling_off_days: int
    retained: list[str]
    pending_request_id: str | None
    execute_after: datetime | None


class PreferencesRead(BaseModel):
    """Marketing channels a person agreed to (P17); both off by default."""

    marketing_sms: bool
    marketing_email: bool
    marketing_consent: bool


class PreferencesUpdate(BaseModel):
    """New marketing preferences."""

    model_config = ConfigDict(extra="forbid")

    marketing_sms: bool
    marketing_email: bool


# --- incidents, statistics ------------------------------------------------------------------------


class IncidentCreate(BaseModel):
    """An incident as recorded by staff (no personal data in the texts)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=4000)
    impact: str = Field(min_length=1, max_length=4000)
    measures: str = Field(min_length=1, max_length=4000)
    advice: str = Field(min_length=1, max_length=4000)
    severity: Literal["low", "medium", "high", "critical"]
    categories: list[str] = Field(min_length=1, max_length=20)
    occurred_from: datetime
    occurred_to: datetime | None = None
    discovered_at: datetime
    scope: Literal["all", "explicit"] = "explicit"
    subject_ids: list[str] = Field(default_factory=list, max_length=100_000)


class IncidentRead(BaseModel):
    """An incident and where its workflow stands."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    summary: str
    impact: str
    measures: str
    advice: str
    severity: str
    categories: list[str]
    scope: dict[str, Any]
    status: str
    occurred_from: datetime
    occurred_to: datetime | None
    discovered_at: datetime
    created_by: str
    created_at: datetime
    affected_count: int
    notified_at: datetime | None
    reported_at: datetime | None
    closed_at: datetime | None


class StatisticsCell(BaseModel):
    """One published number; `value` is None when the group is smaller than the threshold."""

    group: str
    value: int | None
    suppressed: bool


class StatisticsTable(BaseModel):
    """A de-identified statistic: counts per group, small groups suppressed (k-anonymity)."""

    key: str
    title: str
    title_en: str
    cells: list[StatisticsCell]


class StatisticsReport(BaseModel):
    """Published statistics and the threshold they honour."""

    generated_at: datetime
    min_group_size: int
    tables: list[StatisticsTable]
