"""The CA hierarchy: root → issuing CA → end entities, plus the TSA and OCSP-responder certificates.

Profiles follow RFC 5280 §4.2: CA certificates carry critical basicConstraints and keyUsage
(keyCertSign, cRLSign); the TSA certificate a critical extendedKeyUsage of id-kp-timeStamping only
(RFC 3161 §2.3); the OCSP responder id-kp-OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960
§4.2.2.2, §4.2.2.2.1). Issued certificates point at the service's public URLs through
authorityInfoAccess (§4.2.2.1) and cRLDistributionPoints (§4.2.1.13). Every key is generated
inside custody and every signature is made by custody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from sqlalchemy.orm import Session

from qianshu.config import Settings
from qianshu.core.clock import Clock
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.pki import records
from qianshu.pki.custody import KeyAlgorithm, KeyCustody, KeyRef, custody_for
from qianshu.pki.errors import SigningKeyMissing, UnsupportedKeyAlgorithm
from qianshu.pki.keys import custody_private_key
from qianshu.pki.models import Certificate

log = get_logger("qianshu.pki")

ROOT_VALIDITY = timedelta(days=7305)  # 20 years
ISSUING_VALIDITY = timedelta(days=3653)  # 10 years
TSA_VALIDITY = timedelta(days=1826)  # 5 years
OCSP_VALIDITY = timedelta(days=90)  # short-lived: it carries ocsp-nocheck (RFC 6960 §4.2.2.2.1)
_RENEW_MARGIN = {"tsa": timedelta(days=365), "ocsp": timedelta(days=30)}
_VALIDITY = {"tsa": TSA_VALIDITY, "ocsp": OCSP_VALIDITY}
_SIGNATURE_HASH = hashes.SHA256()


@dataclass(frozen=True)
class PkiUrls:
    """The public URLs certificates point at."""

    root_cert: str
    issuing_cert: str
    ocsp: str
    root_crl: str
    issuing_crl: str


def urls(settings: Settings) -> PkiUrls:
    """Return the public PKI URLs under `settings.public_base_url`."""
    base = settings.public_base_url
    return PkiUrls(
        root_cert=f"{base}/pki/root.crt",
        issuing_cert=f"{base}/pki/issuing.crt",
        ocsp=f"{base}/pki/ocsp",
        root_crl=f"{base}/pki/root.crl",
        issuing_crl=f"{base}/pki/issuing.crl",
    )


def key_algorithm(settings: Settings) -> KeyAlgorithm:
    """Return the configured key algorithm of new CA and end-entity keys."""
    return "rsa-3072" if settings.key_algorithm.value == "rsa-3072" else "ecdsa-p256"


def ca_name(settings: Settings, role: str) -> x509.Name:
    """Return the distinguished name of a CA-side certificate (`Root CA`, `Issuing CA`, …)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.operator_name[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{settings.site_name} {role}"[:64]),
        ]
    )


def now_seconds(clock: Clock) -> datetime:
    """Return the clock's time truncated to whole seconds (UTCTime/GeneralizedTime precision)."""
    return clock.now().replace(microsecond=0)


def _aia(u: PkiUrls, *, ca_issuers: str, ocsp: bool) -> x509.AuthorityInformationAccess:
    descriptions = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_issuers)
        )
    ]
    if ocsp:
        descriptions.append(
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u.ocsp))
        )
    return x509.AuthorityInformationAccess(descriptions)


def _cdp(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None, crl_issuer=None
    )
    return x509.CRLDistributionPoints([point])


def _key_usage(
    *, cert_sign: bool = False, digital_signature: bool = False, non_repudiation: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def end_entity_extensions(settings: Settings) -> list[tuple[x509.ExtensionType, bool]]:
    """Return the extensions of a signer certificate: digitalSignature + nonRepudiation, AIA, CDP."""
    u = urls(settings)
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True, non_repudiation=True), True),
        (_aia(u, ca_issuers=u.issuing_cert, ocsp=True), False),
        (_cdp(u.issuing_crl), False),
    ]


def _service_extensions(settings: Settings, kind: str) -> list[tuple[x509.ExtensionType, bool]]:
    u = urls(settings)
    if kind == "tsa":
        return [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True, non_repudiation=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),  # RFC 3161 §2.3: critical
            (_aia(u, ca_issuers=u.issuing_cert, ocsp=True), False),
            (_cdp(u.issuing_crl), False),
        ]
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
        (x509.OCSPNoCheck(), False),  # RFC 6960 §4.2.2.2.1
        (_aia(u, ca_issuers=u.issuing_cert, ocsp=False), False),
    ]


def signing_key(custody: KeyCustody, row: Certificate) -> KeyRef:
    """Return custody's handle of a certificate's key, or raise SigningKeyMissing."""
    ref = custody.get(row.key_label)
    if ref is None:
        raise SigningKeyMissing(
            "该证书的私钥不在密钥托管中（是否更换了托管后端？）",
            detail_en=f"The key of certificate {row.id} is missing from custody (was the backend changed?)",
        )
    return ref


def _sign(
    clock: Clock,
    custody: KeyCustody,
    ref: KeyRef,
    *,
    subject: x509.Name,
    issuer: Certificate | None,
    validity: timedelta,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    public = serialization.load_der_public_key(ref.public_key_der)
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise UnsupportedKeyAlgorithm(detail_en=f"{ref.algorithm} keys cannot be certified here")
    now = now_seconds(clock)
    not_after = now + validity
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    if issuer is None:  # self-signed
        issuer_name, signer_ref = subject, ref
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    else:
        issuer_cert = records.load(issuer)
        issuer_name, signer_ref = issuer_cert.subject, signing_key(custody, issuer)
        not_after = min(not_after, issuer_cert.not_valid_after_utc)  # never outlive the issuer
        issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())  # 159 random bits, positive (§4.1.2.2)
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(custody_private_key(custody, signer_ref), _SIGNATURE_HASH)


def issue(
    session: Session,
    clock: Clock,
    *,
    custody: KeyCustody,
    kind: str,
    subject: x509.Name,
    subject_id: str | None,
    issuer: Certificate | None,
    validity: timedelta,
    extensions: list[tuple[x509.ExtensionType, bool]],
    algorithm: KeyAlgorithm,
) -> Certificate:
    """Generate a key in custody, sign its certificate with the issuer's custody key, store it."""
    cert_id = new_id("crt")
    ref = custody.generate(f"{kind}.{cert_id}", algorithm)
    try:
        cert = _sign(
            clock, custody, ref, subject=subject, issuer=issuer, validity=validity, extensions=extensions
        )
        return records.store_certificate(
            session,
            clock,
            cert_id=cert_id,
            cert=cert,
            kind=kind,
            subject_id=subject_id,
            issuer_id=None if issuer is None else issuer.id,
            key=ref,
        )
    except BaseException:
        custody.destroy(ref.label)  # no orphan key for a certificate that was never stored
        raise


def _create_hierarchy(session: Session, clock: Clock, settings: Settings, custody: KeyCustody) -> Certificate:
    u = urls(settings)
    algorithm = key_algorithm(settings)
    root = issue(
        session,
        clock,
        custody=custody,
        kind="root",
        subject=ca_name(settings, "Root CA"),
        subject_id=None,
        issuer=None,
        validity=ROOT_VALIDITY,
        algorithm=algorithm,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_key_usage(cert_sign=True), True),
        ],
    )
    issue(
        session,
        clock,
        custody=custody,
        kind="issuing",
        subject=ca_name(settings, "Issuing CA"),
        subject_id=None,
        issuer=root,
        validity=ISSUING_VALIDITY,
        algorithm=algorithm,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_key_usage(cert_sign=True), True),
            (_aia(u, ca_issuers=u.root_cert, ocsp=False), False),
            (_cdp(u.root_crl), False),
        ],
    )
    return root


def _fresh(row: Certificate | None, issuing: Certificate, kind: str, now: datetime) -> bool:
    if row is None or row.not_before > now:
        return False
    # A later certificate could not outlive the issuing CA, so renewing then would gain nothing.
    return row.not_after - now >= _RENEW_MARGIN[kind] or row.not_after >= issuing.not_after


def ensure_service_certificate(
    session: Session, clock: Clock, kind: str, *, custody: KeyCustody
) -> Certificate:
    """Return the current TSA or OCSP certificate, issuing a new one when missing or near expiry."""
    issuing = records.require_ca(session, "issuing")
    now = clock.now()
    row = records.current_ca(session, kind)
    if row is not None and _fresh(row, issuing, kind, now):
        return row
    records.lock_ca(session)
    row = records.current_ca(session, kind)
    if row is not None and _fresh(row, issuing, kind, now):
        return row
    settings = runtime_of(session).settings
    role = "TSA" if kind == "tsa" else "OCSP Responder"
    new = issue(
        session,
        clock,
        custody=custody,
        kind=kind,
        subject=ca_name(settings, role),
        subject_id=None,
        issuer=issuing,
        validity=_VALIDITY[kind],
        algorithm=key_algorithm(settings),
        extensions=_service_extensions(settings, kind),
    )
    if row is not None:
        row.status, row.superseded_by = "superseded", new.id
    session.flush()
    log.info("pki_service_certificate_issued", kind=kind, cert_id=new.id)
    return new


def ensure_ca(*, runtime: Runtime) -> str | None:
    """Create the CA hierarchy on first start and keep its responder certificates and CRLs current."""
    from qianshu.pki import crl as crl_module

    custody = custody_for(runtime)
    clock = runtime.clock
    message = None
    with runtime.transaction() as session:
        records.lock_ca(session)
        root = records.current_ca(session, "root")
        if root is None:
            root = _create_hierarchy(session, clock, runtime.settings, custody)
            message = f"已创建证书认证机构 / CA created: root sha256={root.fingerprint}"
            log.info("pki_ca_initialised", cert_id=root.id, fingerprint=root.fingerprint)
        for kind in ("root", "issuing"):
            signing_key(custody, records.require_ca(session, kind))
        for kind in ("tsa", "ocsp"):
            row = ensure_service_certificate(session, clock, kind, custody=custody)
            signing_key(custody, row)
        crl_module.refresh_crls(session=session, clock=clock)
    return message


def ensure_schedules(*, runtime: Runtime) -> None:
    """Queue the hourly CRL and responder-certificate refresh (idempotent; its runs re-queue it)."""
    from qianshu.jobs.schedules import schedule_once
    from qianshu.pki import tasks

    with runtime.transaction() as session:  # race-free when several processes start at once
        run_at = runtime.clock.now() + tasks.REFRESH_EVERY
        schedule_once(
            session=session,
            clock=runtime.clock,
            kind=tasks.REFRESH_JOB,
            payload={},
            run_at=run_at,
            key=f"{tasks.REFRESH_JOB}:{run_at.strftime('%Y-%m-%dT%H')}",
        )
