"""The CA hierarchy: profiles, extensions, public URLs, idempotent start-up, downloads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.pki.custody import custody_for
from qianshu.pki.errors import SigningKeyMissing
from qianshu.pki.models import Certificate
from tests.pki.conftest import Openssl

BASE = "http://testserver"


def _cert(session: Session, kind: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(pki_service.ca_certificate(session=session, kind=kind).der)


def _ext(cert: x509.Certificate, cls: type[Any]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(cls)


def _aia(cert: x509.Certificate) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for desc in _ext(cert, x509.AuthorityInformationAccess).value:
        key = "ocsp" if desc.access_method == AuthorityInformationAccessOID.OCSP else "ca_issuers"
        out.setdefault(key, []).append(desc.access_location.value)
    return out


def _cdp(cert: x509.Certificate) -> list[str]:
    return [name.value for point in _ext(cert, x509.CRLDistributionPoints).value for name in point.full_name]


def test_root_is_a_self_signed_ca(session: Session) -> None:
    root = _cert(session, "root")
    assert root.issuer == root.subject
    bc = _ext(root, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = _ext(root, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    root.verify_directly_issued_by(root)


def test_issuing_ca_points_at_the_root(session: Session) -> None:
    root, issuing = _cert(session, "root"), _cert(session, "issuing")
    issuing.verify_directly_issued_by(root)
    bc = _ext(issuing, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert _aia(issuing) == {"ca_issuers": [f"{BASE}/pki/root.crt"]}
    assert _cdp(issuing) == [f"{BASE}/pki/root.crl"]
    assert (
        _ext(issuing, x509.AuthorityKeyIdentifier).value.key_identifier
        == _ext(root, x509.SubjectKeyIdentifier).value.digest
    )


def test_tsa_certificate_has_only_a_critical_time_stamping_eku(session: Session) -> None:
    tsa, issuing = _cert(session, "tsa"), _cert(session, "issuing")
    tsa.verify_directly_issued_by(issuing)
    eku = _ext(tsa, x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert not _ext(tsa, x509.BasicConstraints).value.ca
    assert _aia(tsa) == {"ca_issuers": [f"{BASE}/pki/issuing.crt"], "ocsp": [f"{BASE}/pki/ocsp"]}
    assert _cdp(tsa) == [f"{BASE}/pki/issuing.crl"]


def test_ocsp_certificate_is_a_delegated_responder_with_nocheck(session: Session) -> None:
    responder, issuing = _cert(session, "ocsp"), _cert(session, "issuing")
    responder.verify_directly_issued_by(issuing)
    assert list(_ext(responder, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    nocheck = responder.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK)
    assert isinstance(nocheck.value, x509.OCSPNoCheck)
    assert "ocsp" not in _aia(responder)  # nocheck: nobody asks the responder about itself


def test_names_carry_the_operator(runtime: Runtime, session: Session) -> None:
    root = _cert(session, "root")
    assert (
        root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        == runtime.settings.operator_name
    )
    assert "Root CA" in str(root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_openssl_accepts_the_hierarchy(session: Session, openssl: Openssl, ca_files: dict[str, Path]) -> None:
    for kind in ("issuing", "tsa", "ocsp"):
        out = openssl(
            "verify",
            "-CAfile",
            str(ca_files["root"]),
            "-untrusted",
            str(ca_files["issuing"]),
            str(ca_files[kind]),
        )
        assert out.returncode == 0, out.stderr
        assert ": OK" in out.stdout


def test_ensure_ca_is_idempotent(runtime: Runtime, session: Session) -> None:
    before = pki_service.root_certificate_der(session=session)
    assert pki_service.ensure_ca(runtime=runtime) is None
    session.expire_all()
    assert pki_service.root_certificate_der(session=session) == before
    counts = dict(session.execute(select(Certificate.kind, func.count()).group_by(Certificate.kind)).all())
    assert counts == {"root": 1, "issuing": 1, "tsa": 1, "ocsp": 1}


def test_ensure_ca_refuses_to_start_when_a_ca_key_is_missing(runtime: Runtime, session: Session) -> None:
    issuing = pki_service.ca_certificate(session=session, kind="issuing")
    custody_for(runtime).destroy(issuing.key_label)
    with pytest.raises(SigningKeyMissing):
        pki_service.ensure_ca(runtime=runtime)


def test_ocsp_responder_certificate_is_renewed_before_expiry(
    runtime: Runtime, session: Session, clock: FrozenClock
) -> None:
    first = pki_service.ca_certificate(session=session, kind="ocsp")
    clock.advance(timedelta(days=50))
    pki_service.ensure_ca(runtime=runtime)
    session.expire_all()
    assert pki_service.ca_certificate(session=session, kind="ocsp").id == first.id
    clock.advance(timedelta(days=15))  # 65 days in: fewer than 30 of 90 left
    pki_service.ensure_ca(runtime=runtime)
    session.expire_all()
    renewed = pki_service.ca_certificate(session=session, kind="ocsp")
    assert renewed.id != first.id
    old = pki_service.get_certificate(session=session, cert_id=first.id)
    assert old is not None and old.status == "superseded" and old.superseded_by == renewed.id


def test_root_and_chain_downloads(client: Any, session: Session) -> None:
    root_der = pki_service.root_certificate_der(session=session)
    r = client.get("/pki/root.crt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-cert"
    assert r.content == root_der
    r = client.get("/pki/root.pem")
    assert r.status_code == 200
    assert x509.load_pem_x509_certificate(r.content) == x509.load_der_x509_certificate(root_der)
    assert client.get("/pki/issuing.crt").content == pki_service.ca_chain(session=session)[0]
    tsa = x509.load_pem_x509_certificate(client.get("/pki/tsa.pem").content)
    assert tsa.public_bytes(serialization.Encoding.DER) == pki_service.tsa_certificate_der(session=session)
    chain = x509.load_pem_x509_certificates(client.get("/pki/chain.pem").content)
    assert [c.subject for c in chain] == [_cert(session, "issuing").subject, _cert(session, "root").subject]


@pytest.mark.parametrize("path", ["/pki/nothing.pem", "/pki/root.exe", "/pki/tsa.crl", "/pki/root"])
def test_unknown_pki_files_are_404_problems(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


class TestRsa3072:
    """settings.key_algorithm = rsa-3072 makes every key RSA-3072."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"key_algorithm": "rsa-3072"}

    def test_hierarchy_and_signers_use_rsa_3072(
        self,
        session: Session,
        clock: FrozenClock,
        openssl: Openssl,
        ca_files: dict[str, Path],
        pki_files: Any,
    ) -> None:
        for kind in ("root", "issuing", "tsa", "ocsp"):
            key = _cert(session, kind).public_key()
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
        person = pki_service.issue_person_certificate(
            session=session, clock=clock, subject_id="usr_" + "r" * 20, name="李四"
        )
        cert = x509.load_der_x509_certificate(person.der)
        assert isinstance(cert.public_key(), rsa.RSAPublicKey) and person.key_algorithm == "rsa-3072"
        ee = pki_files("ee.pem", person.der)
        out = openssl(
            "verify", "-CAfile", str(ca_files["root"]), "-untrusted", str(ca_files["issuing"]), str(ee)
        )
        assert out.returncode == 0, out.stderr
