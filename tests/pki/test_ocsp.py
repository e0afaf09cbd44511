"""The OCSP responder (RFC 6960) checked with `openssl ocsp`, over POST and GET."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.pki.custody import custody_for
from tests.pki.conftest import MakePerson, Openssl

OCSP_REQUEST = {"content-type": "application/ocsp-request"}


def _request_for(
    cert_der: bytes,
    issuer_der: bytes,
    *,
    nonce: bytes | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(cert_der),
        x509.load_der_x509_certificate(issuer_der),
        algorithm or hashes.SHA1(),  # what most clients send in a CertID
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _post(client: Any, der: bytes) -> ocsp.OCSPResponse:
    r = client.post("/pki/ocsp", content=der, headers=OCSP_REQUEST)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(r.content)


def test_openssl_ocsp_good_then_revoked(
    make_person: MakePerson,
    session: Session,
    clock: FrozenClock,
    client: Any,
    openssl: Openssl,
    ca_files: dict[str, Path],
    pki_files: Callable[..., Path],
) -> None:
    cert = make_person()
    ee = pki_files("ee.pem", cert.der)
    made = openssl("ocsp", "-issuer", str(ca_files["issuing"]), "-cert", str(ee), "-reqout", "req.der")
    assert made.returncode == 0, made.stderr
    work = ee.parent
    request = (work / "req.der").read_bytes()

    def check(expected: str) -> None:
        r = client.post("/pki/ocsp", content=request, headers=OCSP_REQUEST)
        (work / "resp.der").write_bytes(r.content)
        # Signature, responder authorisation (issued by the CA, nocheck) and the echoed nonce:
        verified = openssl(
            "ocsp",
            "-reqin",
            "req.der",
            "-respin",
            "resp.der",
            "-CAfile",
            str(ca_files["root"]),
            "-verify_other",
            str(ca_files["issuing"]),
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "Response verify OK" in verified.stderr
        status = openssl(
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            str(ca_files["issuing"]),
            "-cert",
            str(ee),
            "-CAfile",
            str(ca_files["root"]),
            "-verify_other",
            str(ca_files["issuing"]),
            "-no_nonce",
        )
        assert status.returncode == 0, status.stderr
        assert f"ee.pem: {expected}" in status.stdout

    check("good")
    pki_service.revoke_certificate(
        session=session, clock=clock, cert_id=cert.id, actor=cert.subject_id or "", reason="key_compromise"
    )
    session.commit()
    check("revoked")


def test_revocation_shows_in_the_next_response(
    make_person: MakePerson, session: Session, clock: FrozenClock, client: Any
) -> None:
    cert = make_person()
    issuing = pki_service.ca_chain(session=session)[0]
    request = _request_for(cert.der, issuing, nonce=b"n" * 16)
    response = _post(client, request)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"n" * 16
    pki_service.revoke_certificate(
        session=session, clock=clock, cert_id=cert.id, actor=cert.subject_id or "", reason="superseded"
    )
    session.commit()
    response = _post(client, request)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.superseded
    assert response.revocation_time_utc == clock.now()
    responder = x509.load_der_x509_certificate(pki_service.ocsp_certificate_der(session=session))
    assert response.certificates == [responder]
    assert (
        response.responder_key_hash
        == responder.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )


def test_unknown_serial_is_unknown(session: Session, client: Any) -> None:
    issuing = pki_service.ca_chain(session=session)[0]
    other = make_foreign_cert(issuing_der=issuing)
    response = _post(client, _request_for(other, issuing, algorithm=hashes.SHA256()))
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert response.hash_algorithm.name == "sha256"


def make_foreign_cert(*, issuing_der: bytes) -> bytes:
    """A certificate that names our issuing CA as issuer but was never issued by it."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.asymmetric import ec

    issuer = x509.load_der_x509_certificate(issuing_der)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(issuer.subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_get_request_is_answered(make_person: MakePerson, session: Session, client: Any) -> None:
    cert = make_person()
    request = _request_for(cert.der, pki_service.ca_chain(session=session)[0])
    encoded = quote(base64.b64encode(request).decode(), safe="")
    r = client.get(f"/pki/ocsp/{encoded}")
    assert r.status_code == 200
    assert ocsp.load_der_ocsp_response(r.content).certificate_status == ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("body", [b"", b"not der", b"\x30\x03\x02\x01\x01", b"\x30" * 20000])
def test_malformed_requests_get_malformed_request(client: Any, body: bytes) -> None:
    response = _post(client, body)
    assert response.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_malformed_get_gets_malformed_request(client: Any) -> None:
    r = client.get("/pki/ocsp/%%%not-base64")
    assert r.status_code == 200
    assert ocsp.load_der_ocsp_response(r.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_foreign_issuer_is_unauthorized(make_person: MakePerson, session: Session, client: Any) -> None:
    root = pki_service.root_certificate_der(session=session)
    issuing = pki_service.ca_chain(session=session)[0]
    response = _post(client, _request_for(issuing, root))  # we answer for the issuing CA only
    assert response.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_missing_responder_key_is_internal_error_not_500(
    make_person: MakePerson, session: Session, client: Any, runtime: Runtime
) -> None:
    cert = make_person()
    responder = pki_service.ca_certificate(session=session, kind="ocsp")
    custody_for(runtime).destroy(responder.key_label)
    response = _post(client, _request_for(cert.der, pki_service.ca_chain(session=session)[0]))
    assert response.response_status == ocsp.OCSPResponseStatus.INTERNAL_ERROR


def test_ocsp_response_for_a_certificate(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    der = pki_service.ocsp_response_for(session=session, clock=clock, cert_id=cert.id)
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == cert.serial_number


ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pki"


@pytest.mark.parametrize("asset", ["ocsp_request_truncated.der", "ocsp_request_two_certids.der"])
def test_bad_request_assets_get_malformed_request(client: Any, asset: str) -> None:
    response = _post(client, (ASSETS / asset).read_bytes())
    assert response.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
