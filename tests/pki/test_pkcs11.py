"""The whole CA on a PKCS#11 token (SoftHSM2): every key generated and used inside the token."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.pki import tsa
from qianshu.pki.custody import custody_for
from qianshu.pki.pkcs11_custody import Pkcs11KeyCustody
from tests.pki.conftest import MakePerson, Openssl


@pytest.fixture
def settings_overrides(softhsm: dict[str, str]) -> dict[str, Any]:
    return {
        "custody_backend": "pkcs11",
        "pkcs11_module": softhsm["module"],
        "pkcs11_token_label": softhsm["label"],
        "pkcs11_pin": softhsm["pin"],
    }


def test_ca_and_signer_keys_live_in_the_token(
    runtime: Runtime,
    session: Session,
    clock: FrozenClock,
    make_person: MakePerson,
    openssl: Openssl,
    ca_files: dict[str, Path],
    pki_files: Callable[..., Path],
) -> None:
    custody = custody_for(runtime)
    assert isinstance(custody, Pkcs11KeyCustody)
    assert not (runtime.settings.secrets_dir / "keys").exists()  # no key files at all
    cert = make_person("赵六")
    assert custody.get(cert.key_label) is not None

    # A signature made in the token verifies with the certificate's public key.
    message = b"I agree to the contract"
    signature = custody.sign_digest(cert.key_label, hashlib.sha256(message).digest(), "sha256")
    public = x509.load_der_x509_certificate(cert.der).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))

    # The chain (signed in the token) verifies with openssl.
    ee = pki_files("ee.pem", cert.der)
    out = openssl("verify", "-CAfile", str(ca_files["root"]), "-untrusted", str(ca_files["issuing"]), str(ee))
    assert out.returncode == 0, out.stderr


def test_tsa_ocsp_and_crl_sign_in_the_token(
    session: Session,
    clock: FrozenClock,
    client: Any,
    make_person: MakePerson,
    openssl: Openssl,
    ca_files: dict[str, Path],
    pki_files: Callable[..., Path],
) -> None:
    data = pki_files("data.bin", b"payload", as_pem=False)
    openssl("ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "q.tsq")
    r = client.post(
        "/tsa",
        content=(data.parent / "q.tsq").read_bytes(),
        headers={"content-type": "application/timestamp-query"},
    )
    (data.parent / "r.tsr").write_bytes(r.content)
    out = openssl(
        "ts",
        "-verify",
        "-queryfile",
        "q.tsq",
        "-in",
        "r.tsr",
        "-CAfile",
        str(ca_files["root"]),
        "-untrusted",
        str(ca_files["tsa"]),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert tsa.TimeStampResponse.load(r.content)["status"]["status"].native == "granted"

    cert = make_person()
    pki_service.revoke_certificate(session=session, clock=clock, cert_id=cert.id, actor=cert.subject_id or "")
    session.commit()
    crl = x509.load_der_x509_crl(client.get("/pki/issuing.crl").content)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    response = ocsp.load_der_ocsp_response(
        pki_service.ocsp_response_for(session=session, clock=clock, cert_id=cert.id)
    )
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
