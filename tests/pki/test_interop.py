"""pyHanko's validator (what signing uses) accepts our chain, CRLs, OCSP responses and time-stamps."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from tests.pki.conftest import MakePerson


def _context(session: Session, **kwargs: Any) -> ValidationContext:
    root = asn1_x509.Certificate.load(pki_service.root_certificate_der(session=session))
    issuing = asn1_x509.Certificate.load(pki_service.ca_chain(session=session)[0])
    return ValidationContext(
        trust_roots=[root], other_certs=[issuing], allow_fetching=False, revocation_mode="hard-fail", **kwargs
    )


def _validate(cert_der: bytes, context: ValidationContext) -> Any:
    validator = CertificateValidator(asn1_x509.Certificate.load(cert_der), validation_context=context)
    return asyncio.run(validator.async_validate_usage({"non_repudiation"}))  # type: ignore[no-untyped-call]


def test_signer_certificate_validates_with_crls(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    crls = [pki_service.crl_der(session=session, clock=clock, which=w) for w in ("issuing", "root")]
    path = _validate(cert.der, _context(session, crls=crls))
    assert len(path) == 3


def test_revocation_is_seen_through_ocsp(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    root_crl = pki_service.crl_der(session=session, clock=clock, which="root")
    good = pki_service.ocsp_response_for(session=session, clock=clock, cert_id=cert.id)
    _validate(cert.der, _context(session, ocsps=[good], crls=[root_crl]))
    pki_service.revoke_certificate(session=session, clock=clock, cert_id=cert.id, actor=cert.subject_id or "")
    revoked = pki_service.ocsp_response_for(session=session, clock=clock, cert_id=cert.id)
    with pytest.raises(RevokedError):
        _validate(cert.der, _context(session, ocsps=[revoked], crls=[root_crl]))


def test_time_stamp_token_validates(runtime: Runtime, session: Session) -> None:
    digest = hashlib.sha256(b"the signed PDF's signature value").digest()
    token = asyncio.run(
        pki_service.timestamper_for(runtime, session=session).async_timestamp(digest, "sha256")
    )
    root = asn1_x509.Certificate.load(pki_service.root_certificate_der(session=session))
    context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
    status = asyncio.run(validate_tst_signed_data(token["content"], context, lambda _algo: digest))
    assert status["intact"] and status["valid"]
    assert status["signing_cert"].dump() == pki_service.tsa_certificate_der(session=session)
