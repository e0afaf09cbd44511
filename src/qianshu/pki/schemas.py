"""Pydantic shapes of the PKI: certificate records in and out."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from qianshu.pki.errors import CertificateRedacted

CertificateKind = Literal["root", "issuing", "tsa", "ocsp", "person", "org"]


class RevocationReason(StrEnum):
    """CRLReason values of RFC 5280 §5.3.1 (no certificateHold: revocation here is final)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"


class CertificateRead(BaseModel):
    """A certificate record; `der` is the certificate itself (it carries the subject's name).

    Once the holder cancelled their account the record is *redacted*: `der` is empty and
    `redacted_at` set (the certificate is still in every PDF they signed); check `redacted` first.
    """

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: CertificateKind
    subject_id: str | None
    issuer_id: str | None
    serial: str
    fingerprint: str
    der: bytes
    key_label: str
    key_algorithm: str
    status: Literal["active", "superseded", "revoked"]
    not_before: datetime
    not_after: datetime
    created_at: datetime
    superseded_by: str | None
    revoked_at: datetime | None
    revocation_reason: str | None
    retain_until: datetime
    redacted_at: datetime | None = None

    @property
    def redacted(self) -> bool:
        """Tell whether the certificate's DER was removed at the holder's account cancellation."""
        return self.redacted_at is not None

    @property
    def serial_number(self) -> int:
        """Return the serial number as an integer."""
        return int(self.serial, 16)

    @property
    def pem(self) -> str:
        """Return the certificate in PEM (RFC 7468 §5); CertificateRedacted when it is no longer kept."""
        if self.redacted:
            raise CertificateRedacted(detail_en=f"Certificate {self.id} was redacted")
        body = base64.encodebytes(self.der).decode().replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"

    def is_valid_at(self, at: datetime) -> bool:
        """Tell whether `at` lies within the validity period."""
        return self.not_before <= at <= self.not_after


class CertificateOut(BaseModel):
    """A certificate as the REST API shows it (no key label; no PEM once redacted)."""

    id: str
    kind: CertificateKind
    subject_id: str | None
    serial: str
    fingerprint: str
    status: Literal["active", "superseded", "revoked"]
    not_before: datetime
    not_after: datetime
    superseded_by: str | None
    revoked_at: datetime | None
    revocation_reason: str | None
    redacted: bool = False
    pem: str | None

    @classmethod
    def of(cls, cert: CertificateRead) -> CertificateOut:
        """Build the API view of `cert`."""
        return cls(
            id=cert.id,
            kind=cert.kind,
            subject_id=cert.subject_id,
            serial=cert.serial,
            fingerprint=cert.fingerprint,
            status=cert.status,
            not_before=cert.not_before,
            not_after=cert.not_after,
            superseded_by=cert.superseded_by,
            revoked_at=cert.revoked_at,
            revocation_reason=cert.revocation_reason,
            redacted=cert.redacted,
            pem=None if cert.redacted else cert.pem,
        )


class RevokeIn(BaseModel):
    """Body of a revocation request."""

    model_config = ConfigDict(extra="forbid")

    reason: RevocationReason = RevocationReason.UNSPECIFIED
