"""Certificate rows: storing, reading, locking, and the audit events that go with them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.runtime import runtime_of
from qianshu.pki.custody import KeyRef
from qianshu.pki.errors import CaNotInitialised, CertificateRedacted
from qianshu.pki.models import Certificate
from qianshu.pki.schemas import CertificateRead

CA_KINDS = ("root", "issuing", "tsa", "ocsp")
END_ENTITY_KINDS = ("person", "org")
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"qianshu.pki.ca").digest()[:8], "big", signed=True)


def to_read(row: Certificate) -> CertificateRead:
    """Return the schema of a certificate row."""
    return CertificateRead.model_validate(row)


def serial_hex(serial: int) -> str:
    """Return the canonical column form of a serial number (lower-case hex)."""
    return format(serial, "x")


def add_years(at: datetime, years: int) -> datetime:
    """Return `at` plus whole calendar years (29 February becomes 28 February)."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def lock_ca(session: Session) -> None:
    """Serialise CA writers (CRL numbers, responder certificates) until the transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    elif dialect == "sqlite":
        # A write matching no row takes SQLite's write lock now, so what we read next is current.
        noop = update(Certificate).where(text("0 = 1")).values(status=Certificate.status)
        session.execute(noop.execution_options(synchronize_session=False))


def current_ca(session: Session, kind: str) -> Certificate | None:
    """Return the newest active CA-side certificate of `kind` (root, issuing, tsa, ocsp)."""
    return session.scalar(
        select(Certificate)
        .where(Certificate.kind == kind, Certificate.status == "active")
        .order_by(Certificate.not_after.desc(), Certificate.created_at.desc())
        .limit(1)
    )


def require_ca(session: Session, kind: str) -> Certificate:
    """Return the current CA certificate of `kind` or raise CaNotInitialised."""
    row = current_ca(session, kind)
    if row is None:
        raise CaNotInitialised(
            "证书认证机构尚未初始化，请运行 qianshu ca init", detail_en="Run `qianshu ca init` first"
        )
    return row


def store_certificate(
    session: Session,
    clock: Clock,
    *,
    cert_id: str,
    cert: x509.Certificate,
    kind: str,
    subject_id: str | None,
    issuer_id: str | None,
    key: KeyRef,
) -> Certificate:
    """Insert the row of a freshly signed certificate, kept until expiry plus the retention period."""
    der = cert.public_bytes(serialization.Encoding.DER)
    years = runtime_of(session).settings.signing_record_retention_years
    not_after = cert.not_valid_after_utc
    row = Certificate(
        id=cert_id,
        kind=kind,
        subject_id=subject_id,
        issuer_id=issuer_id,
        serial=serial_hex(cert.serial_number),
        fingerprint=hashlib.sha256(der).hexdigest(),
        der=der,
        key_label=key.label,
        key_algorithm=key.algorithm,
        status="active",
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        created_at=clock.now(),
        retain_until=add_years(not_after, years),
    )
    session.add(row)
    session.flush()
    return row


def load(row: Certificate) -> x509.Certificate:
    """Parse the DER of a certificate row (CertificateRedacted once its holder cancelled their account)."""
    if row.redacted_at is not None:
        raise CertificateRedacted(detail_en=f"Certificate {row.id} was redacted")
    return x509.load_der_x509_certificate(row.der)


def audit(
    session: Session,
    clock: Clock,
    *,
    stream: str,
    actor: str,
    action: str,
    object_id: str,
    data: dict[str, Any],
    context: Any = None,
) -> None:
    """Record an audit event in the caller's transaction (no personal data in `data`)."""
    from qianshu.evidence import service as evidence_service

    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream,
        actor=actor,
        action=action,
        object_id=object_id,
        data=data,
        context=context,
    )


def stream_of(subject_id: str | None) -> str:
    """Return the audit stream of a certificate subject (`user:`, `org:`, or `system`)."""
    if subject_id is None:
        return "system"
    if subject_id.startswith("usr_"):
        return f"user:{subject_id}"
    if subject_id.startswith("org_"):
        return f"org:{subject_id}"
    return "system"
