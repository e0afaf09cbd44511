"""Pydantic shapes of the contracts domain: templates, documents, contracts, recipients, fields."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldKind = Literal["signature", "seal", "date", "text", "checkbox"]
ContractStatus = Literal["draft", "sent", "completed", "declined", "revoked", "expired"]
SIGNATURE_KINDS = ("signature", "seal")


class TemplateCreate(BaseModel):
    """A new template: a title and a body whose `{{name}}` placeholders are its variables."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=50_000)
    is_public: bool = False  # operators only: shown to everyone, even without an account


class TemplateRead(BaseModel):
    """A template as listed (the body is read separately)."""

    id: str
    title: str
    variables: list[str]
    is_public: bool
    created_at: datetime


class TemplateFill(BaseModel):
    """Values for a template's variables, and the document's title."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=120)
    values: dict[str, str] = Field(default_factory=dict)


class PageBox(BaseModel):
    """A page's MediaBox in points (ISO 32000-1 §14.11.2)."""

    x1: float
    y1: float
    x2: float
    y2: float


class DocumentRead(BaseModel):
    """An accepted PDF: hash, size and page boxes."""

    id: str
    title: str
    sha256: str
    size: int
    pages: list[PageBox]
    source: str
    template_id: str | None
    created_at: datetime


class FieldIn(BaseModel):
    """A field placed by coordinates: 0-based page, rectangle in PDF points (origin bottom-left)."""

    model_config = ConfigDict(extra="forbid")

    kind: FieldKind
    page: int = Field(ge=0, le=99_999)
    x1: float = Field(ge=0)
    y1: float = Field(ge=0)
    x2: float = Field(ge=0)
    y2: float = Field(ge=0)
    required: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> FieldIn:
        if self.x2 - self.x1 < 8 or self.y2 - self.y1 < 8:
            raise ValueError("a field must be at least 8 × 8 points, with x2 > x1 and y2 > y1")
        return self


class RecipientIn(BaseModel):
    """A signer (person, or organisation with its agent's contact and seal) or a CC recipient."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["signer", "cc"] = "signer"
    kind: Literal["person", "org"] = "person"
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    routing_order: int = Field(default=1, ge=1, le=100)
    org_id: str | None = Field(default=None, max_length=32)
    seal_id: str | None = Field(default=None, max_length=32)
    fields: list[FieldIn] = Field(default_factory=list, max_length=50)


class ContractCreate(BaseModel):
    """A new contract over an accepted document."""

    model_config = ConfigDict(extra="forbid")

    document_id: str = Field(max_length=32)
    title: str | None = Field(default=None, max_length=120)
    deadline: datetime | None = None
    recipients: list[RecipientIn] = Field(min_length=1, max_length=50)


class RecipientFieldsIn(BaseModel):
    """The fields of one signer of a draft, replacing those it had."""

    model_config = ConfigDict(extra="forbid")

    recipient_id: str = Field(max_length=32)
    fields: list[FieldIn] = Field(max_length=50)


class FieldsPlace(BaseModel):
    """Every signer's fields of a draft at once (each signer exactly one signature or seal field)."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[RecipientFieldsIn] = Field(min_length=1, max_length=50)


class FieldRead(BaseModel):
    """A field and whether it is filled."""

    id: str
    recipient_id: str
    kind: str
    page: int
    x1: float
    y1: float
    x2: float
    y2: float
    required: bool
    filled: bool


class RecipientRead(BaseModel):
    """A recipient, contact masked."""

    id: str
    role: str
    kind: str
    routing_order: int
    contact_masked: str
    org_id: str | None
    seal_id: str | None
    status: str
    signed_at: datetime | None


class ContractRead(BaseModel):
    """A contract with its recipients and fields."""

    id: str
    title: str
    status: ContractStatus
    document_id: str
    deadline: datetime | None
    original_sha256: str
    signed_sha256: str | None
    signatures: int
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    recipients: list[RecipientRead]
    fields: list[FieldRead]


class SigningLink(BaseModel):
    """A recipient's signing link, returned once when the contract is sent."""

    recipient_id: str
    url: str


class SentRead(BaseModel):
    """The sent contract and the signing links (shown to the sender once)."""

    contract: ContractRead
    links: list[SigningLink]


class ReasonIn(BaseModel):
    """A decline or revocation reason."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class CodeIn(BaseModel):
    """A one-time code."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=12)


class AccessRead(BaseModel):
    """Proof that the signer controls the contact: send it back as header X-Signing-Access."""

    access: str
    expires_at: datetime


class FaceCheckIn(BaseModel):
    """A live photo for the face check that confirms the intent to sign (人脸核验), and the consent to it.

    The photo (JPEG or PNG, base64) is compared with the ID record through the identity provider
    and not stored. `consent` gives the separate consent to process the face (sensitive personal
    information) when it was not given before.
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"photo_b64": "/9j/4AAQSkZJRgABAQAAAQABAAD…", "consent": True}]}
    )

    photo_b64: str = Field(min_length=1, max_length=7_500_000)
    consent: bool = False


class FaceTicketRead(BaseModel):
    """The single-use ticket a matching face check earns: send it as `code` with `intent_method` "face"."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ticket": "482917"}]})

    ticket: str


class SignIn(BaseModel):
    """The signer's submission: field values, appearance and the proof of intent (签署意愿).

    `intent_method` "code" sends the fresh one-time `code`; "password" sends the person's signing
    `password` (签署密码); "face" sends, as `code`, the ticket a matching face check returned
    (POST /sign/{token}/face). Which methods are allowed is the operator's `signing_intent_methods`.
    """

    model_config = ConfigDict(extra="forbid")

    intent_method: Literal["code", "password", "face"] = "code"
    code: str | None = Field(default=None, min_length=1, max_length=12)
    password: str | None = Field(default=None, min_length=1, max_length=64)  # signing_password.MAX_LENGTH
    appearance: Literal["text", "handwriting", "seal"] = "text"
    handwriting_png_b64: str | None = Field(default=None, max_length=3_000_000)
    values: dict[str, str] = Field(default_factory=dict)
    cross_page_seal: bool = False  # organisations: also seal across the right edge of every page (骑缝章)


class SignerView(BaseModel):
    """What a signing link shows: the contract, this recipient and what they must do."""

    contract_id: str
    title: str
    status: ContractStatus
    recipient: RecipientRead
    fields: list[FieldRead]
    your_turn: bool
    access_granted: bool
    deadline: datetime | None


class SealApprovalRead(BaseModel):
    """A request to use an organisation's seal (用印审批) and its decision."""

    id: str
    contract_id: str
    contract_title: str
    contract_status: str
    recipient_id: str
    org_id: str
    seal_id: str
    agent_id: str
    status: Literal["pending", "approved", "rejected", "closed"]
    cross_page: bool
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
