"""Pydantic shapes of the signing domain: visible appearances, placements and validation reports."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_MAX_IMAGE_BYTES = 2 * 1024 * 1024
_MAX_VALUE = 500


class Rect(BaseModel):
    """A rectangle in PDF user space (points, origin bottom-left; ISO 32000-1 §8.3.2.3)."""

    model_config = ConfigDict(frozen=True)

    x1: float = Field(ge=0)
    y1: float = Field(ge=0)
    x2: float = Field(ge=0)
    y2: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Rect:
        if self.x2 - self.x1 < 8 or self.y2 - self.y1 < 8:
            raise ValueError("the rectangle must be at least 8 × 8 points, with x2 > x1 and y2 > y1")
        return self

    @property
    def width(self) -> float:
        """Return the width in points."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Return the height in points."""
        return self.y2 - self.y1

    def as_box(self) -> tuple[int, int, int, int]:
        """Return the rectangle rounded to whole points, as pyHanko's SigFieldSpec wants it."""
        return (round(self.x1), round(self.y1), round(self.x2), round(self.y2))


class SealAppearance(BaseModel):
    """An organisation's seal image (PNG with transparency), e.g. from `seal.render_seal_png`."""

    kind: Literal["seal"] = "seal"
    image_png: bytes = Field(max_length=_MAX_IMAGE_BYTES)
    cross_page: bool = False  # also cut the seal across the right edge of every page (骑缝章)


class HandwritingAppearance(BaseModel):
    """A handwritten signature image (PNG; white or transparent background)."""

    kind: Literal["handwriting"] = "handwriting"
    image_png: bytes = Field(max_length=_MAX_IMAGE_BYTES)


class TextAppearance(BaseModel):
    """A text stamp: the signer's name, the signing time and the certificate serial number."""

    kind: Literal["text"] = "text"
    signer_name: str | None = Field(default=None, min_length=1, max_length=64)  # default: from the certificate


class FieldValue(BaseModel):
    """A value the signer filled in, drawn at its rectangle as part of the signer's signature.

    Text is one line of up to 500 characters; a date is YYYY-MM-DD; a checkbox is "true" (ticked)
    or "false" (left empty, drawn as an empty box).
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["text", "date", "checkbox"]
    page: int = Field(ge=0, le=99_999)  # 0-based
    rect: Rect
    value: str = Field(min_length=1, max_length=_MAX_VALUE)

    @model_validator(mode="after")
    def _valid(self) -> FieldValue:
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in self.value):
            raise ValueError("a value has no control characters")
        if self.kind == "checkbox" and self.value not in ("true", "false"):
            raise ValueError("a checkbox value is true or false")
        if self.kind == "date":
            try:
                parsed = date.fromisoformat(self.value)
            except ValueError:
                raise ValueError("a date is YYYY-MM-DD") from None
            if parsed.isoformat() != self.value:
                raise ValueError("a date is YYYY-MM-DD")
        return self


Appearance = Annotated[SealAppearance | HandwritingAppearance | TextAppearance, Field(discriminator="kind")]


class PadesLevel(StrEnum):
    """PAdES baseline levels of ETSI EN 319 142-1 §6."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


class RevocationStatus(StrEnum):
    """The signer certificate's revocation status at signing time."""

    GOOD = "good"  # revocation data shows it was not revoked when signed
    REVOKED = "revoked"  # revoked at or before the signing time
    UNKNOWN = "unknown"  # no usable revocation data (e.g. B-T, before the platform completed it)


class CertificateInfo(BaseModel):
    """One certificate of a chain, as a person reads it."""

    subject: str
    issuer: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime
    sha256: str


class SignatureReport(BaseModel):
    """The verdict on one signature (ETSI EN 319 102-1 vocabulary where it applies)."""

    field_name: str
    signer_name: str | None  # subject CN
    signer_org: str | None  # subject O
    chain: list[CertificateInfo]
    subfilter: str
    signing_time: datetime | None  # claimed by the signer (/M or signing-time attribute)
    timestamp_time: datetime | None  # signature time-stamp (RFC 3161 genTime)
    timestamp_valid: bool | None  # None when there is no signature time-stamp
    intact: bool  # the signed bytes hash to the signed digest
    signature_valid: bool  # the signature value verifies with the signer's key
    trusted: bool  # the chain leads to a trust anchor and was valid when signed
    trust_problem: str | None  # AdES sub-indication when not trusted
    revocation: RevocationStatus
    revoked_at: datetime | None
    covers_whole_file: bool
    modified_after: bool  # later incremental updates exist
    modification_level: str  # none | lta_updates | form_filling | annotations | other
    modifications_permitted: bool  # the later updates are ones a signature allows (DocMDP, ISO 32000-1 §12.8.2.2)
    pades_level: PadesLevel | None  # None for non-PAdES signatures
    ok: bool
    problems: list[str]


class TimestampReport(BaseModel):
    """The verdict on one document time-stamp (ETSI EN 319 142-1 §5.4, /DocTimeStamp)."""

    field_name: str
    timestamp_time: datetime | None
    tsa: str | None
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    modification_level: str
    ok: bool


class ValidationReport(BaseModel):
    """Everything `validate_pdf` found; `ok` means at least one signature and no failures."""

    signatures: list[SignatureReport]
    document_timestamps: list[TimestampReport]
    ok: bool
