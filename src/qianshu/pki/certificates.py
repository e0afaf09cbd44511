"""Signer certificates: issue, renew, revoke and look up; one custody key pair per subject.

Individuals: CN = name, serialNumber = the platform's pseudonymous subject id (`usr_…`; the ID
number stays in the vault). Enterprises: O = name, organizationIdentifier = "NTRCN-" + USCC
(ETSI EN 319 412-1 §5.1.4 semantics identifier). Key usage digitalSignature + nonRepudiation.
A renewed or revoked certificate's key is destroyed by a job enqueued in the same transaction.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import is_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.pki import ca, records
from qianshu.pki.custody import custody_for
from qianshu.pki.errors import (
    CertificateExpired,
    CertificateNotFound,
    CertificateRedacted,
    CertificateRevoked,
    CertificateSuperseded,
    NotCertificateOwner,
    SigningKeyMissing,
)
from qianshu.pki.models import Certificate
from qianshu.pki.schemas import CertificateRead, RevocationReason

log = get_logger("qianshu.pki")

DESTROY_KEY_JOB = "pki.destroy_key"
_NAME_MAX = 64  # ub-common-name / ub-organization-name, RFC 5280 Appendix A.1
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")


# --- input ----------------------------------------------------------------------------------


def _check_name(value: str, what: str, what_en: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value or len(value) > _NAME_MAX:
        raise InvalidInput(
            f"{what}长度须为 1 至 {_NAME_MAX} 个字符", detail_en=f"The {what_en} must have 1 to 64 characters"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value):
        raise InvalidInput(
            f"{what}含有不可见或控制字符", detail_en=f"The {what_en} contains control characters"
        )
    return value


def _check_subject(subject_id: str, prefix: str) -> str:
    if not is_id(subject_id, prefix):
        raise InvalidInput("主体标识格式不正确", detail_en=f"The subject id must be a {prefix}_… id")
    return subject_id


def check_uscc(uscc: str) -> str:
    """Return the USCC upper-cased when its format and check character are valid (GB 32100-2015 §4.2)."""
    value = uscc.strip().upper()
    if not _USCC_RE.fullmatch(value):
        raise InvalidInput(
            "统一社会信用代码格式不正确", detail_en="The unified social credit code is malformed"
        )
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    check = (31 - total % 31) % 31
    if _USCC_CHARS[check] != value[17]:
        raise InvalidInput(
            "统一社会信用代码校验位错误", detail_en="The unified social credit code fails its check character"
        )
    return value


def subject_serial(subject_id: str) -> str:
    """Return the serialNumber attribute of a subject id (`usr_x…` → `usr-x…`).

    X520SerialNumber is a PrintableString (RFC 5280 Appendix A.1), which has no underscore.
    """
    return subject_id.replace("_", "-")


def person_subject(*, subject_id: str, name: str) -> x509.Name:
    """Return the subject DN of an individual: C=CN, CN=name, serialNumber=pseudonymous subject id."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, subject_serial(subject_id)),
        ]
    )


def org_subject(*, subject_id: str, org_name: str, uscc: str) -> x509.Name:
    """Return an enterprise's subject DN: C=CN, O, organizationIdentifier NTRCN-USCC, CN, serialNumber."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRCN-" + uscc),
            x509.NameAttribute(NameOID.COMMON_NAME, org_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, subject_serial(subject_id)),
        ]
    )


# --- reading --------------------------------------------------------------------------------


def get_certificate(*, session: Session, cert_id: str) -> CertificateRead | None:
    """Return the certificate `cert_id`, or None."""
    row = session.get(Certificate, cert_id)
    return None if row is None else records.to_read(row)


def get_certificate_or_raise(*, session: Session, cert_id: str) -> CertificateRead:
    """Return the certificate `cert_id` or raise CertificateNotFound."""
    found = get_certificate(session=session, cert_id=cert_id)
    if found is None:
        raise CertificateNotFound(detail_en=f"No certificate {cert_id}")
    return found


def get_certificate_by_fingerprint(*, session: Session, fingerprint: str) -> CertificateRead | None:
    """Return the certificate whose DER has this SHA-256 (hex), or None."""
    row = session.scalar(select(Certificate).where(Certificate.fingerprint == fingerprint.lower()))
    return None if row is None else records.to_read(row)


def current_certificate_for(*, session: Session, subject_id: str) -> CertificateRead | None:
    """Return the subject's current (active, newest) certificate, or None; it may have expired."""
    row = _current_row(session, subject_id)
    return None if row is None else records.to_read(row)


def list_certificates_for(*, session: Session, subject_id: str) -> list[CertificateRead]:
    """Return every certificate of the subject, newest first."""
    rows = session.scalars(
        select(Certificate)
        .where(Certificate.subject_id == subject_id)
        .order_by(Certificate.created_at.desc(), case((Certificate.status == "active", 0), else_=1))
    )
    return [records.to_read(row) for row in rows]


def _current_row(session: Session, subject_id: str) -> Certificate | None:
    return session.scalar(
        select(Certificate)
        .where(
            Certificate.subject_id == subject_id,
            Certificate.kind.in_(records.END_ENTITY_KINDS),
            Certificate.status == "active",
        )
        .order_by(Certificate.created_at.desc())
        .limit(1)
    )


def check_usable(*, session: Session, clock: Clock, cert: CertificateRead) -> CertificateRead:
    """Return `cert` when it may sign now: not revoked, not superseded, within validity, key in custody."""
    if cert.status == "revoked":
        raise CertificateRevoked("证书已吊销，不能用于签署", detail_en=f"Certificate {cert.id} is revoked")
    if cert.status == "superseded":
        raise CertificateSuperseded(detail_en=f"Certificate {cert.id} was superseded by {cert.superseded_by}")
    if not cert.is_valid_at(clock.now()):
        raise CertificateExpired(
            "证书已过期或尚未生效，请更新证书", detail_en=f"Certificate {cert.id} is not valid now"
        )
    if custody_for(runtime_of(session)).get(cert.key_label) is None:
        raise SigningKeyMissing(
            "证书的签名密钥不存在或已销毁", detail_en=f"The key of certificate {cert.id} is missing"
        )
    return cert


def require_signing_certificate(*, session: Session, clock: Clock, subject_id: str) -> CertificateRead:
    """Return the subject's current certificate when it can sign now; raise a clear error otherwise."""
    cert = current_certificate_for(session=session, subject_id=subject_id)
    if cert is None:
        raise CertificateNotFound("尚未为该主体签发证书", detail_en="The subject has no certificate")
    return check_usable(session=session, clock=clock, cert=cert)


# --- changing -------------------------------------------------------------------------------


def _issue_end_entity(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    subject: x509.Name,
    subject_id: str,
) -> Certificate:
    runtime = runtime_of(session)
    settings = runtime.settings
    issuing = records.require_ca(session, "issuing")
    row = ca.issue(
        session,
        clock,
        custody=custody_for(runtime),
        kind=kind,
        subject=subject,
        subject_id=subject_id,
        issuer=issuing,
        validity=timedelta(days=settings.cert_validity_days),
        extensions=ca.end_entity_extensions(settings),
        algorithm=ca.key_algorithm(settings),
    )
    for old in session.scalars(
        select(Certificate).where(
            Certificate.subject_id == subject_id,
            Certificate.kind.in_(records.END_ENTITY_KINDS),
            Certificate.status == "active",
            Certificate.id != row.id,
        )
    ):
        old.status, old.superseded_by = "superseded", row.id
        _schedule_key_destruction(session, clock, old)
    session.flush()
    return row


def _schedule_key_destruction(session: Session, clock: Clock, row: Certificate) -> None:
    from qianshu.jobs import service as jobs_service

    jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=DESTROY_KEY_JOB,
        payload={"cert_id": row.id},
        dedupe_key=f"{DESTROY_KEY_JOB}:{row.id}",
    )


def _issued_data(row: Certificate) -> dict[str, Any]:
    return {
        "serial": row.serial,
        "kind": row.kind,
        "key_algorithm": row.key_algorithm,
        "not_before": row.not_before.isoformat(),
        "not_after": row.not_after.isoformat(),
        "fingerprint": row.fingerprint,
    }


def issue_person_certificate(
    *, session: Session, clock: Clock, subject_id: str, name: str, actor: str = "system", context: Any = None
) -> CertificateRead:
    """Issue an individual's certificate (superseding any current one) with a new custody key."""
    _check_subject(subject_id, "usr")
    subject = person_subject(subject_id=subject_id, name=_check_name(name, "姓名", "name"))
    row = _issue_end_entity(session, clock, kind="person", subject=subject, subject_id=subject_id)
    records.audit(
        session,
        clock,
        stream=records.stream_of(subject_id),
        actor=actor,
        action="pki.certificate_issued",
        object_id=row.id,
        data=_issued_data(row),
        context=context,
    )
    log.info("pki_certificate_issued", cert_id=row.id, subject_id=subject_id, kind="person")
    return records.to_read(row)


def issue_org_certificate(
    *,
    session: Session,
    clock: Clock,
    subject_id: str,
    org_name: str,
    uscc: str,
    actor: str = "system",
    context: Any = None,
) -> CertificateRead:
    """Issue an enterprise's certificate (superseding any current one) with a new custody key."""
    _check_subject(subject_id, "org")
    subject = org_subject(
        subject_id=subject_id,
        org_name=_check_name(org_name, "企业名称", "organisation name"),
        uscc=check_uscc(uscc),
    )
    row = _issue_end_entity(session, clock, kind="org", subject=subject, subject_id=subject_id)
    records.audit(
        session,
        clock,
        stream=records.stream_of(subject_id),
        actor=actor,
        action="pki.certificate_issued",
        object_id=row.id,
        data=_issued_data(row),
        context=context,
    )
    log.info("pki_certificate_issued", cert_id=row.id, subject_id=subject_id, kind="org")
    return records.to_read(row)


def _row_or_raise(session: Session, cert_id: str) -> Certificate:
    row = session.get(Certificate, cert_id)
    if row is None:
        raise CertificateNotFound(detail_en=f"No certificate {cert_id}")
    return row


def _authorise(row: Certificate, *, actor: str, operator: bool, acting_for: str | None) -> None:
    if operator:
        return
    if (
        row.kind in records.END_ENTITY_KINDS
        and row.subject_id is not None
        and row.subject_id in (actor, acting_for)
    ):
        return
    raise NotCertificateOwner(detail_en="Only the certificate holder or an operator may do this")


def renew_certificate(
    *,
    session: Session,
    clock: Clock,
    cert_id: str,
    actor: str,
    operator: bool = False,
    acting_for: str | None = None,
    context: Any = None,
) -> CertificateRead:
    """Issue a successor with the same subject and a new key; the old certificate becomes superseded.

    `actor` must be the subject (or `acting_for` it, vouched for by the caller) unless `operator`.
    """
    row = _row_or_raise(session, cert_id)
    _authorise(row, actor=actor, operator=operator, acting_for=acting_for)
    if row.status == "revoked":
        raise CertificateRevoked(
            "已吊销的证书不能更新，请重新申请", detail_en="A revoked certificate cannot be renewed"
        )
    if row.status == "superseded":
        raise CertificateSuperseded(
            "该证书已被更新，请更新当前证书", detail_en="Renew the current certificate instead"
        )
    if row.redacted_at is not None:  # its subject name is gone with the account
        raise CertificateRedacted(
            "证书持有人已注销账户，不能更新该证书", detail_en="The holder's account is cancelled"
        )
    assert row.subject_id is not None
    new = _issue_end_entity(
        session, clock, kind=row.kind, subject=records.load(row).subject, subject_id=row.subject_id
    )
    data = _issued_data(new) | {"previous": row.id}
    records.audit(
        session,
        clock,
        stream=records.stream_of(row.subject_id),
        actor=actor,
        action="pki.certificate_renewed",
        object_id=new.id,
        data=data,
        context=context,
    )
    log.info("pki_certificate_renewed", cert_id=new.id, previous=row.id)
    return records.to_read(new)


def revoke_certificate(
    *,
    session: Session,
    clock: Clock,
    cert_id: str,
    actor: str,
    reason: RevocationReason | str = RevocationReason.UNSPECIFIED,
    operator: bool = False,
    acting_for: str | None = None,
    context: Any = None,
) -> CertificateRead:
    """Revoke a certificate (RFC 5280 §5.3.1 reason) and re-sign its CA's CRL in the same transaction.

    Signer certificates: the subject (or `acting_for` it) or an operator. TSA and OCSP-responder
    certificates: operators only (a successor is issued on next use). CA certificates: never here.
    """
    try:
        why = RevocationReason(reason)
    except ValueError:
        raise InvalidInput("吊销原因无效", detail_en=f"Unknown revocation reason {reason!r}") from None
    row = _row_or_raise(session, cert_id)
    if row.kind in ("root", "issuing"):
        raise InvalidInput("CA 证书不能在此吊销", detail_en="CA certificates cannot be revoked here")
    _authorise(row, actor=actor, operator=operator, acting_for=acting_for)
    records.lock_ca(session)
    session.refresh(row)
    if row.status == "revoked":
        raise CertificateRevoked("证书已被吊销", detail_en=f"Certificate {cert_id} is already revoked")
    row.status = "revoked"
    row.revoked_at = ca.now_seconds(clock)
    row.revocation_reason = why.value
    session.flush()
    from qianshu.pki import crl as crl_module

    assert row.issuer_id is not None
    crl_module.publish_crl(session=session, clock=clock, issuer=_row_or_raise(session, row.issuer_id))
    _schedule_key_destruction(session, clock, row)
    records.audit(
        session,
        clock,
        stream=records.stream_of(row.subject_id),
        actor=actor,
        action="pki.certificate_revoked",
        object_id=row.id,
        data={"serial": row.serial, "reason": why.value, "by_operator": operator},
        context=context,
    )
    log.info("pki_certificate_revoked", cert_id=row.id, reason=why.value)
    return records.to_read(row)


def _person_rows(session: Session, user_id: str) -> list[Certificate]:
    return list(
        session.scalars(
            select(Certificate)
            .where(Certificate.subject_id == user_id, Certificate.kind == "person")
            .order_by(Certificate.created_at, Certificate.id)
        )
    )


def retained_certificates_for(*, session: Session, user_id: str) -> list[CertificateRead]:
    """Return the person's certificates still holding their DER (what cancellation must seal)."""
    _check_subject(user_id, "usr")
    return [records.to_read(r) for r in _person_rows(session, user_id) if r.redacted_at is None]


def redact_person_certificates(*, session: Session, clock: Clock, user_id: str) -> int:
    """Remove the DER (it names the holder) from a cancelled person's certificate rows; count them.

    What the CA needs without personal data stays: serial, fingerprint, issuer, validity, status
    and revocation, so the CRL lists the serial and OCSP answers for it (by the issuer's hashes
    and the serial, never the certificate itself). Only revoked or superseded certificates are
    redacted: a certificate that can still sign must keep its subject.
    """
    _check_subject(user_id, "usr")
    count = 0
    for row in _person_rows(session, user_id):
        if row.redacted_at is not None:
            continue
        if row.status == "active":
            raise InvalidInput(
                "证书仍有效，须先吊销才能清除证书内容",
                detail_en=f"Certificate {row.id} is active: revoke it before redacting",
            )
        row.der = b""
        row.redacted_at = clock.now()
        count += 1
        records.audit(
            session,
            clock,
            stream=records.stream_of(user_id),
            actor="system",
            action="pki.certificate_redacted",
            object_id=row.id,
            data={"serial": row.serial, "fingerprint": row.fingerprint},
        )
    session.flush()
    if count:
        log.info("pki_certificates_redacted", subject_id=user_id, count=count)
    return count


def destroy_retired_key(*, session: Session, cert_id: str) -> bool:
    """Destroy the custody key of a superseded or revoked certificate; return whether it did."""
    row = session.get(Certificate, cert_id)
    if row is None or row.status not in ("superseded", "revoked"):
        return False
    custody_for(runtime_of(session)).destroy(row.key_label)
    log.info("pki_key_destroyed", cert_id=row.id)
    return True


def purge_expired_certificates(*, session: Session, clock: Clock) -> int:
    """Delete signer-certificate records past `retain_until` (never sooner) and their keys; count them."""
    now = clock.now()
    rows = list(
        session.scalars(
            select(Certificate).where(
                Certificate.kind.in_(records.END_ENTITY_KINDS), Certificate.retain_until < now
            )
        )
    )
    custody = custody_for(runtime_of(session))
    for row in rows:
        custody.destroy(row.key_label)
    if rows:
        session.execute(delete(Certificate).where(Certificate.id.in_([r.id for r in rows])))
        session.flush()
    return len(rows)
