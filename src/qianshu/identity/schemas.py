"""Pydantic shapes of identity: strict requests, and read models that never carry a full ID number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qianshu.identity.levels import AutoLevel

_STRICT = ConfigDict(extra="forbid", str_max_length=512)


class VerificationStart(BaseModel):
    """Start a verification at a level; `consents` grants those purposes explicitly first."""

    model_config = _STRICT

    level: AutoLevel
    consents: list[str] = Field(default_factory=list, max_length=4)


class ElementsSubmit(BaseModel):
    """The elements of a two-, three- or four-element check (validated by identity.validators)."""

    model_config = _STRICT

    name: str = Field(max_length=80)
    id_number: str = Field(max_length=40)
    phone: str | None = Field(default=None, max_length=32)
    bank_card: str | None = Field(default=None, max_length=40)


class RevealIn(BaseModel):
    """Why an operator opens a review's documents: a reason code and an optional note."""

    model_config = _STRICT

    reason: str = Field(default="identity_review", min_length=1, max_length=32)
    note: str = Field(default="", max_length=400)


class DecisionIn(BaseModel):
    """An operator's decision on a manual review; the reason is shown to the person."""

    model_config = _STRICT

    reason: str = Field(min_length=1, max_length=400)


class GuardianConfirm(BaseModel):
    """A guardian confirms a minor's request: the code the minor passed on and the child's ID number."""

    model_config = _STRICT

    code: str = Field(min_length=1, max_length=64)
    child_id_number: str = Field(max_length=40)
    relationship: Literal["parent", "guardian"] = "parent"


class VerificationRead(BaseModel):
    """One verification as its owner sees it: state, level, and why it ended (no personal data)."""

    id: str
    level: str
    level_label: str
    status: str
    doc_type: str
    attempts: int
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    next_attempt_at: datetime | None
    failure_reason: str | None
    message: str | None
    review_note: str | None


class LevelOption(BaseModel):
    """A level the person can choose, and the consents still missing for it."""

    level: str
    label: str
    purposes: list[str]
    missing_consents: list[str]
    satisfies_signing: bool


class IdentityRead(BaseModel):
    """A person's verified identity as other domains see it: level and dates, no personal data."""

    user_id: str
    level: str
    doc_type: str
    verified_at: datetime
    certificate_id: str | None


class IdentityOverview(BaseModel):
    """What a person sees on their identity page."""

    verified: bool
    level: str | None
    level_label: str | None
    verified_at: datetime | None
    doc_type: str | None
    name_masked: str | None
    id_number_masked: str | None
    certificate_id: str | None
    required_level: str
    can_sign: bool
    open_verification: VerificationRead | None
    levels: list[LevelOption]
    history: list[VerificationRead]


class ReviewSummary(BaseModel):
    """A manual review in the operators' queue, masked."""

    id: str
    user_id: str
    status: str
    doc_type: str
    doc_label: str
    name_masked: str
    number_masked: str
    images: int
    submitted_at: datetime | None
    completed_at: datetime | None
    reviewer_id: str | None


class RevealedImage(BaseModel):
    """One document image, in clear, for the operator who revealed it."""

    position: int
    content_type: str
    data_base64: str


class ReviewRevealed(ReviewSummary):
    """A review opened by an operator (the access is logged and shown to the person)."""

    access_id: str
    name: str
    document_number: str
    birth_date: date
    age: int
    image_data: list[RevealedImage]


class GuardianRequestRead(BaseModel):
    """A minor's request for guardian consent, seen by the minor or the guardian."""

    id: str
    status: str
    role: Literal["minor", "guardian"]
    relationship: str | None
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None


class GuardianRequestCreated(GuardianRequestRead):
    """A new request, with the one-time code the minor gives to their guardian (shown once)."""

    code: str
