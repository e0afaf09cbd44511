"""The certificate REST API: holders and operators renew and revoke; CRL and OCSP follow at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from qianshu.core.auth import Principal, get_current_user
from qianshu.core.ids import new_id
from qianshu.evidence import service as evidence_service
from qianshu.pki import service as pki_service
from tests.pki.conftest import MakePerson

PROBLEM = "application/problem+json"
SignIn = Callable[..., Principal]


@pytest.fixture
def sign_in(app: Any) -> SignIn:
    """Make the API see `user_id` (with `role`) as the signed-in user."""

    def as_user(user_id: str, role: str = "user") -> Principal:
        principal = Principal(user_id=user_id, session_id=new_id("ses"), role=role)
        app.dependency_overrides[get_current_user] = lambda: principal
        return principal

    return as_user


def _ocsp_status(client: Any, session: Session, cert: pki_service.CertificateRead) -> ocsp.OCSPCertStatus:
    issuer = x509.load_der_x509_certificate(pki_service.ca_chain(session=session)[0])
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(x509.load_der_x509_certificate(cert.der), issuer, hashes.SHA256())
        .build()
    )
    r = client.post(
        "/pki/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"content-type": "application/ocsp-request"},
    )
    return ocsp.load_der_ocsp_response(r.content).certificate_status


def test_holder_revokes_and_crl_and_ocsp_show_it_on_the_next_request(
    client: Any, session: Session, make_person: MakePerson, sign_in: SignIn
) -> None:
    cert = make_person()
    sign_in(cert.subject_id)
    assert _ocsp_status(client, session, cert) == ocsp.OCSPCertStatus.GOOD
    r = client.post(f"/api/v1/certificates/{cert.id}/revoke", json={"reason": "key_compromise"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "revoked" and body["revocation_reason"] == "key_compromise"
    assert "key_label" not in body
    crl = x509.load_der_x509_crl(client.get("/pki/issuing.crl").content)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert _ocsp_status(client, session, cert) == ocsp.OCSPCertStatus.REVOKED
    events = evidence_service.list_events(session=session, stream=f"user:{cert.subject_id}")
    assert events[-1].action == "pki.certificate_revoked"


def test_holder_sees_and_renews_their_certificate(
    client: Any, session: Session, make_person: MakePerson, sign_in: SignIn
) -> None:
    cert = make_person()
    sign_in(cert.subject_id)
    current = client.get("/api/v1/certificates/current").json()
    assert current["id"] == cert.id
    assert x509.load_pem_x509_certificate(current["pem"].encode()).serial_number == cert.serial_number
    r = client.post(f"/api/v1/certificates/{cert.id}/renew")
    assert r.status_code == 200
    assert client.get("/api/v1/certificates/current").json()["id"] == r.json()["id"] != cert.id
    assert client.get(f"/api/v1/certificates/{cert.id}").json()["status"] == "superseded"


def test_others_cannot_see_or_revoke(client: Any, make_person: MakePerson, sign_in: SignIn) -> None:
    cert = make_person()
    sign_in(new_id("usr"))
    for r in (
        client.get(f"/api/v1/certificates/{cert.id}"),
        client.post(f"/api/v1/certificates/{cert.id}/revoke", json={}),
        client.post(f"/api/v1/certificates/{cert.id}/renew"),
    ):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["type"].endswith("/certificate-not-found")


def test_operator_revokes_any_certificate(client: Any, make_person: MakePerson, sign_in: SignIn) -> None:
    cert = make_person()
    sign_in(new_id("usr"), role="operator")
    r = client.post(f"/api/v1/certificates/{cert.id}/revoke", json={"reason": "privilege_withdrawn"})
    assert r.status_code == 200
    again = client.post(f"/api/v1/certificates/{cert.id}/revoke", json={})
    assert again.status_code == 409 and again.json()["type"].endswith("/certificate-revoked")


def test_bad_reason_is_422(client: Any, make_person: MakePerson, sign_in: SignIn) -> None:
    cert = make_person()
    sign_in(cert.subject_id)
    r = client.post(f"/api/v1/certificates/{cert.id}/revoke", json={"reason": "certificate_hold"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


def test_no_certificate_yet_is_404(client: Any, sign_in: SignIn) -> None:
    sign_in(new_id("usr"))
    r = client.get("/api/v1/certificates/current")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


def test_signed_out_is_401(client: Any, make_person: MakePerson) -> None:
    cert = make_person()
    r = client.post(f"/api/v1/certificates/{cert.id}/revoke", json={})
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
