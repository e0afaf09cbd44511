"""The PKI's public service: CA hierarchy, signer certificates, CRL/OCSP status and time-stamps.

Other domains import this module only (`from qianshu.pki import service as pki_service`).
Private keys stay in key custody (`custody_for(runtime)`); everything here signs through it.

Account cancellation (privacy, P7) finds two hooks here by name: `privacy_retained_for` seals
the person's certificates (their DER names them) under the retention key until each record's
`retain_until`, and `on_account_cancelled` then redacts the rows (see `redact_person_certificates`).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.runtime import runtime_of
from qianshu.pki import records
from qianshu.pki.ca import ensure_ca, ensure_schedules, urls
from qianshu.pki.certificates import (
    check_usable,
    check_uscc,
    current_certificate_for,
    get_certificate,
    get_certificate_by_fingerprint,
    get_certificate_or_raise,
    issue_org_certificate,
    issue_person_certificate,
    list_certificates_for,
    purge_expired_certificates,
    redact_person_certificates,
    renew_certificate,
    require_signing_certificate,
    retained_certificates_for,
    revoke_certificate,
)
from qianshu.pki.crl import crl_der
from qianshu.pki.custody import KeyCustody, KeyRef, custody_for
from qianshu.pki.errors import (
    CaNotInitialised,
    CertificateExpired,
    CertificateNotFound,
    CertificateRedacted,
    CertificateRevoked,
    CertificateSuperseded,
    CustodyUnavailable,
    NotCertificateOwner,
    SigningKeyMissing,
    TimestampUnavailable,
)
from qianshu.pki.ocsp import ocsp_response, ocsp_response_for
from qianshu.pki.schemas import CertificateRead, RevocationReason
from qianshu.pki.timestampers import LocalTimeStamper, RemoteTimeStamper, timestamper_for
from qianshu.pki.tsa import timestamp, timestamp_token

__all__ = [
    "CaNotInitialised",
    "CertificateExpired",
    "CertificateNotFound",
    "CertificateRead",
    "CertificateRedacted",
    "CertificateRevoked",
    "CertificateSuperseded",
    "CustodyUnavailable",
    "KeyCustody",
    "KeyRef",
    "LocalTimeStamper",
    "NotCertificateOwner",
    "RemoteTimeStamper",
    "RevocationReason",
    "SigningKeyMissing",
    "TimestampUnavailable",
    "ca_certificate",
    "ca_chain",
    "check_usable",
    "check_uscc",
    "crl_der",
    "current_certificate_for",
    "custody_for",
    "ensure_ca",
    "ensure_schedules",
    "get_certificate",
    "get_certificate_by_fingerprint",
    "get_certificate_or_raise",
    "issue_org_certificate",
    "issue_person_certificate",
    "list_certificates_for",
    "ocsp_certificate_der",
    "ocsp_response",
    "ocsp_response_for",
    "on_account_cancelled",
    "pem",
    "privacy_retained_for",
    "purge_expired_certificates",
    "redact_person_certificates",
    "renew_certificate",
    "require_signing_certificate",
    "retained_certificates_for",
    "revoke_certificate",
    "root_certificate_der",
    "timestamp",
    "timestamp_token",
    "timestamper_for",
    "tsa_certificate_der",
    "urls",
]


def pem(der: bytes, label: str = "CERTIFICATE") -> str:
    """Return DER as PEM text (RFC 7468 §2)."""
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def ca_certificate(*, session: Session, kind: str) -> CertificateRead:
    """Return the current `root`, `issuing`, `tsa` or `ocsp` certificate (CaNotInitialised if none)."""
    if kind not in records.CA_KINDS:
        raise ValueError(f"not a CA certificate kind: {kind}")
    return records.to_read(records.require_ca(session, kind))


def ca_chain(*, session: Session) -> list[bytes]:
    """Return the DER chain above signer certificates: [issuing CA, root]."""
    return [records.require_ca(session, "issuing").der, records.require_ca(session, "root").der]


def root_certificate_der(*, session: Session) -> bytes:
    """Return the DER of the root certificate (the one trust anchor verifiers need)."""
    return records.require_ca(session, "root").der


def tsa_certificate_der(*, session: Session) -> bytes:
    """Return the DER of the current time-stamping certificate."""
    return records.require_ca(session, "tsa").der


def ocsp_certificate_der(*, session: Session) -> bytes:
    """Return the DER of the current OCSP-responder certificate."""
    return records.require_ca(session, "ocsp").der


# --- privacy: account cancellation (P7) -------------------------------------------------------

RETAINED_SOURCE = "pki.certificate"


def privacy_retained_for(*, session: Session, clock: Clock, user_id: str) -> list[Any]:
    """At cancellation: each of the person's certificates (DER, base64), sealed for the legal period.

    The CA keeps the certificates it issued for five years after they stop being valid
    (电子签名法 第24条): the record's `retain_until` (expiry plus the period), or sooner when the
    certificate stops being valid earlier — cancellation revokes it now. The copy is sealed under
    the person's retention key, which staff cannot use.
    """
    from qianshu.privacy.retention import RetainedItem

    years = runtime_of(session).settings.signing_record_retention_years
    now = clock.now()
    return [
        RetainedItem(
            source=RETAINED_SOURCE,
            value=base64.b64encode(cert.der).decode("ascii"),
            retain_until=min(cert.retain_until, records.add_years(min(cert.not_after, cert.revoked_at or now), years)),
        )
        for cert in retained_certificates_for(session=session, user_id=user_id)
    ]


def on_account_cancelled(*, session: Session, clock: Clock, user_id: str) -> None:
    """After cancellation (certificates revoked, DER sealed): drop the DER from the person's records."""
    redact_person_certificates(session=session, clock=clock, user_id=user_id)
