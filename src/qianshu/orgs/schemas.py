"""Pydantic shapes of the orgs domain: strict, size-limited requests and masked read models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid", str_max_length=1024)

RoleName = Literal["owner", "admin", "agent", "seal_keeper", "member"]
StepStatus = str


# --- applications ---------------------------------------------------------------------------


class OrgCreate(BaseModel):
    """Start an enterprise application: the registered name and the unified social credit code."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=64)
    uscc: str = Field(min_length=1, max_length=40)


class LegalRepIn(BaseModel):
    """The legal representative's name and ID number, and the applicant's assurance to provide them."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=1, max_length=32)
    authorised: bool = Field(
        description="The applicant confirms they may provide the legal representative's information"
    )


class ConfirmationRequest(BaseModel):
    """Ask the legal representative, by SMS, to confirm the applicant as agent."""

    model_config = _STRICT

    phone: str = Field(min_length=1, max_length=32)


class ConfirmationRead(BaseModel):
    """A confirmation request sent to the legal representative."""

    id: str
    status: str
    sent_to: str
    expires_at: datetime


class ConfirmationView(BaseModel):
    """What the legal representative sees when opening the confirmation link."""

    org_id: str
    org_name: str
    uscc: str
    agent_label: str
    status: str
    expires_at: datetime


class StepsRead(BaseModel):
    """The state of each verification step."""

    licence: StepStatus
    legal_rep: StepStatus
    legal_rep_method: str | None
    agent: StepStatus
    agent_method: str | None
    bank: StepStatus


class OrgSummary(BaseModel):
    """An organisation in a member's list."""

    id: str
    name: str
    uscc: str
    status: str
    role: str
    verified_at: datetime | None


class OrgRead(OrgSummary):
    """An organisation as its members see it; personal data masked, only for verifiers."""

    created_at: datetime
    certificate_id: str | None
    steps: StepsRead
    category: str
    legal_rep_name: str | None = None  # masked
    legal_rep_id_number: str | None = None  # masked
    bank_account: str | None = None  # masked


class DocumentRead(BaseModel):
    """An uploaded licence or authorisation letter (never the image itself)."""

    id: str
    org_id: str
    kind: str
    status: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    uploaded_at: datetime
    reviewed_at: datetime | None
    reject_reason: str | None


# --- micro-deposit --------------------------------------------------------------------------


class DepositStart(BaseModel):
    """The corporate account that receives the micro-deposit."""

    model_config = _STRICT

    bank_name: str = Field(min_length=2, max_length=60)
    account_number: str = Field(min_length=1, max_length=40)


class DepositConfirm(BaseModel):
    """The amount that arrived, in yuan (`0.37`)."""

    model_config = _STRICT

    amount: str = Field(min_length=1, max_length=16)


class DepositRead(BaseModel):
    """A micro-deposit check (the amount is never shown)."""

    id: str
    status: str
    bank_account: str
    memo_code: str
    attempts_left: int
    created_at: datetime
    expires_at: datetime
    verified_at: datetime | None


# --- members --------------------------------------------------------------------------------


class InvitationCreate(BaseModel):
    """Invite someone by exactly one of phone number or e-mail address."""

    model_config = _STRICT

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    role: RoleName = "member"

    @model_validator(mode="after")
    def _one_of(self) -> InvitationCreate:
        if bool(self.phone) == bool(self.email):
            raise ValueError("give exactly one of phone or email")
        return self


class InvitationRead(BaseModel):
    """An invitation (the contact masked)."""

    id: str
    org_id: str
    org_name: str
    role: str
    channel: str
    sent_to: str
    status: str
    created_at: datetime
    expires_at: datetime


class MemberRead(BaseModel):
    """A member of an organisation (masked label, public id)."""

    org_id: str
    user_id: str
    role: str
    status: str
    label: str
    joined_at: datetime


class RoleChange(BaseModel):
    """A member's new role."""

    model_config = _STRICT

    role: RoleName


# --- seals ----------------------------------------------------------------------------------


class SealGenerate(BaseModel):
    """Draw a round seal from the organisation's name."""

    model_config = _STRICT

    name: str = Field(default="合同专用章", min_length=1, max_length=20)
    footer: str | None = Field(default="合同专用章", max_length=12)
    requires_approval: bool = False


class SealRead(BaseModel):
    """A seal (the image is fetched separately, by members only)."""

    id: str
    org_id: str
    name: str
    kind: str
    footer: str | None
    width: int
    height: int
    size_bytes: int
    requires_approval: bool
    status: str
    created_at: datetime
    image_url: str


class SealApproval(BaseModel):
    """Whether each use of the seal needs approval (用印审批)."""

    model_config = _STRICT

    requires_approval: bool


class GrantCreate(BaseModel):
    """Let one member use one seal, optionally until a time."""

    model_config = _STRICT

    user_id: str = Field(min_length=1, max_length=40)
    expires_at: AwareDatetime | None = None


class GrantRead(BaseModel):
    """A seal grant."""

    id: str
    seal_id: str
    user_id: str
    granted_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


# --- operator review ------------------------------------------------------------------------

RevealReason = Literal["review", "complaint", "legal_request", "incident"]
RejectReason = Literal["unreadable", "mismatch", "expired", "not_a_licence", "not_a_letter", "other"]


class ReviewItem(BaseModel):
    """A document waiting for review, masked."""

    document_id: str
    org_id: str
    org_name: str
    uscc: str
    kind: str
    uploaded_at: datetime
    legal_rep_name: str | None
    status: str


class RevealIn(BaseModel):
    """Why an operator opens a document image (recorded in the staff-access log)."""

    model_config = _STRICT

    reason: RevealReason
    note: str | None = Field(default=None, max_length=200)


class RevealRead(BaseModel):
    """A revealed document: the image (data URL) and the unmasked fields needed to check it."""

    document_id: str
    content_type: str
    image_base64: str
    legal_rep_name: str | None
    legal_rep_id_number: str | None


class ReviewDecision(BaseModel):
    """Approve or reject a document; a rejection names its reason."""

    model_config = _STRICT

    decision: Literal["approve", "reject"]
    reason: RejectReason | None = None

    @model_validator(mode="after")
    def _reason_for_reject(self) -> ReviewDecision:
        if self.decision == "reject" and self.reason is None:
            raise ValueError("a rejection needs a reason")
        return self
