"""OCSP responder (RFC 6960) for certificates of the issuing CA, signed by a delegated responder.

The responder certificate is issued by the issuing CA with id-kp-OCSPSigning and
id-pkix-ocsp-nocheck (§4.2.2.2); the response carries it, names it by key hash (§4.2.2.3) and
echoes the request nonce (§4.4.1). Answers need only the issuer and the serial, never the
subject's certificate, so certificates redacted at their holder's cancellation are still answered.
Bad requests get an OCSPResponse with a non-successful status (§2.3), never an HTTP error.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import QianshuError
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.pki import records
from qianshu.pki.ca import ensure_service_certificate, now_seconds, signing_key
from qianshu.pki.custody import custody_for
from qianshu.pki.errors import CertificateNotFound
from qianshu.pki.keys import custody_private_key
from qianshu.pki.models import Certificate

log = get_logger("qianshu.pki")

MAX_REQUEST_BYTES = 16 * 1024
_HASHLIB = {"sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}
_RESPONSE_VALIDITY = timedelta(hours=1)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _issuer_hashes(issuer: Certificate, algorithm: str) -> tuple[bytes, bytes]:
    """Return (issuerNameHash, issuerKeyHash) of a CA certificate (RFC 6960 §4.1.1 CertID)."""
    cert = records.load(issuer)
    spki = asn1_keys.PublicKeyInfo.load(
        cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    name_hash = hashlib.new(algorithm, cert.subject.public_bytes()).digest()
    key_hash = hashlib.new(algorithm, bytes(spki["public_key"])).digest()  # the BIT STRING's value
    return name_hash, key_hash


def _find_issuer(session: Session, name_hash: bytes, key_hash: bytes, algorithm: str) -> Certificate | None:
    for issuer in session.scalars(select(Certificate).where(Certificate.kind == "issuing")):
        if _issuer_hashes(issuer, algorithm) == (name_hash, key_hash):
            return issuer
    return None


def ocsp_response(*, session: Session, clock: Clock, request_der: bytes) -> bytes:
    """Answer a DER OCSPRequest with a DER OCSPResponse (good, revoked or unknown; §2.2)."""
    if len(request_der) > MAX_REQUEST_BYTES:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
        hash_algorithm = request.hash_algorithm
        nonce: bytes | None = None
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                nonce = ext.value.nonce
    except (ValueError, TypeError, UnsupportedAlgorithm, NotImplementedError):
        # NotImplementedError: several CertIDs in one request; like most responders we answer one.
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    algo_name = _HASHLIB.get(hash_algorithm.name)
    if algo_name is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    issuer = _find_issuer(session, name_hash, key_hash, algo_name)
    if issuer is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)  # not a CA we answer for (§2.3)
    try:
        return _respond(session, clock, issuer, serial, name_hash, key_hash, hash_algorithm, nonce)
    except QianshuError as exc:
        log.warning("pki_ocsp_failed", error_type=type(exc).__name__)
        return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)


def _respond(
    session: Session,
    clock: Clock,
    issuer: Certificate,
    serial: int,
    name_hash: bytes,
    key_hash: bytes,
    hash_algorithm: hashes.HashAlgorithm,
    nonce: bytes | None,
) -> bytes:
    custody = custody_for(runtime_of(session))
    responder = ensure_service_certificate(session, clock, "ocsp", custody=custody)
    responder_cert = records.load(responder)
    row = session.scalar(
        select(Certificate).where(
            Certificate.issuer_id == issuer.id, Certificate.serial == records.serial_hex(serial)
        )
    )
    now = now_seconds(clock)
    status = ocsp.OCSPCertStatus.UNKNOWN
    revoked_at = None
    reason = None
    if row is not None:
        status = ocsp.OCSPCertStatus.GOOD
        if row.status == "revoked":
            status = ocsp.OCSPCertStatus.REVOKED
            assert row.revoked_at is not None
            revoked_at = row.revoked_at.replace(microsecond=0)
            if row.revocation_reason and row.revocation_reason != "unspecified":
                reason = x509.ReasonFlags[row.revocation_reason]
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + _RESPONSE_VALIDITY,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
        .certificates([responder_cert])
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    key = custody_private_key(custody, signing_key(custody, responder))
    response = builder.sign(key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def ocsp_response_for(*, session: Session, clock: Clock, cert_id: str) -> bytes:
    """Return a fresh DER OCSPResponse about certificate `cert_id` (for embedding as validation data)."""
    row = session.get(Certificate, cert_id)
    if row is None or row.issuer_id is None:
        raise CertificateNotFound(detail_en=f"No certificate {cert_id} with an issuer")
    issuer = session.get(Certificate, row.issuer_id)
    if issuer is None:
        raise CertificateNotFound(detail_en=f"The issuer of {cert_id} is missing")
    # By the issuer's hashes and the serial (§4.1.1), so a redacted record (no DER) is answered too.
    name_hash, key_hash = _issuer_hashes(issuer, "sha256")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, int(row.serial, 16), hashes.SHA256())
        .build()
    )
    return ocsp_response(
        session=session, clock=clock, request_der=request.public_bytes(serialization.Encoding.DER)
    )
