"""Certificate revocation lists (RFC 5280 §5): one per CA, re-signed on revocation and before expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.pki import records
from qianshu.pki.ca import now_seconds, signing_key
from qianshu.pki.custody import custody_for
from qianshu.pki.keys import custody_private_key
from qianshu.pki.models import Certificate, Crl

log = get_logger("qianshu.pki")

CrlIssuer = Literal["issuing", "root"]


def _latest(session: Session, issuer_id: str) -> Crl | None:
    return session.scalar(select(Crl).where(Crl.issuer_id == issuer_id).order_by(Crl.number.desc()).limit(1))


def is_stale(crl: Crl, now: datetime) -> bool:
    """Tell whether `crl` is past half its validity (or dated after `now`) and due for re-signing."""
    half = (crl.next_update - crl.this_update) / 2
    return now >= crl.this_update + half or now < crl.this_update


def publish_crl(*, session: Session, clock: Clock, issuer: Certificate) -> Crl:
    """Sign and store the next CRL of `issuer`, listing every certificate it issued and revoked."""
    records.lock_ca(session)
    runtime = runtime_of(session)
    custody = custody_for(runtime)
    last = session.scalar(select(func.max(Crl.number)).where(Crl.issuer_id == issuer.id))
    number = (last or 0) + 1
    now = now_seconds(clock)
    next_update = now + timedelta(hours=runtime.settings.crl_validity_hours)
    issuer_cert = records.load(issuer)
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)  # §5.2.3
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )  # §5.2.1
    )
    revoked = session.scalars(
        select(Certificate)
        .where(Certificate.issuer_id == issuer.id, Certificate.status == "revoked")
        .order_by(Certificate.revoked_at, Certificate.serial)
    )
    for row in revoked:
        assert row.revoked_at is not None
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(row.serial, 16))
            .revocation_date(row.revoked_at.replace(microsecond=0))
        )
        reason = row.revocation_reason or "unspecified"
        if reason != "unspecified":  # §5.3.1: reasonCode unspecified SHOULD be absent
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags[reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(custody_private_key(custody, signing_key(custody, issuer)), hashes.SHA256())
    row_crl = Crl(
        id=new_id("crl"),
        issuer_id=issuer.id,
        number=number,
        this_update=now,
        next_update=next_update,
        der=crl.public_bytes(serialization.Encoding.DER),
        created_at=clock.now(),
    )
    session.add(row_crl)
    session.flush()
    log.info("pki_crl_published", issuer_id=issuer.id, crl_number=number)
    return row_crl


def current_crl(*, session: Session, clock: Clock, which: str = "issuing") -> Crl:
    """Return the current CRL of the `issuing` or `root` CA, re-signing it first when stale."""
    if which not in ("issuing", "root"):
        raise InvalidInput(
            "CRL 只有 issuing 与 root 两种", detail_en="CRLs exist for `issuing` and `root` only"
        )
    issuer = records.require_ca(session, which)
    now = clock.now()
    latest = _latest(session, issuer.id)
    if latest is not None and not is_stale(latest, now):
        return latest
    records.lock_ca(session)
    latest = _latest(session, issuer.id)
    if latest is not None and not is_stale(latest, now):
        return latest
    return publish_crl(session=session, clock=clock, issuer=issuer)


def crl_der(*, session: Session, clock: Clock, which: str = "issuing") -> bytes:
    """Return the DER of the current CRL of the `issuing` or `root` CA (re-signed when stale)."""
    return current_crl(session=session, clock=clock, which=which).der


def refresh_crls(*, session: Session, clock: Clock) -> None:
    """Make sure both CRLs exist and are fresh (the scheduled job and the startup hook call this)."""
    for which in ("root", "issuing"):
        current_crl(session=session, clock=clock, which=which)
