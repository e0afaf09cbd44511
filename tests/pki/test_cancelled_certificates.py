"""A cancelled person's certificates (P7, E4): DER sealed under the retention key, rows redacted.

After cancellation no row of `pki_certificate` names the person, yet the CA still answers for
the serial (OCSP "revoked", the CRL lists it) and what they signed earlier still validates.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import MetaData, Table, select

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.pki import records
from qianshu.pki import service as pki_service
from qianshu.pki.models import Certificate
from qianshu.pki.schemas import CertificateOut
from qianshu.privacy import cancellation, centre, retention
from tests.conftest import retention_private_key_path
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, register_user

PHONE = "13800138231"
NAME = "司马千书"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def _sign(runtime: Runtime, user: str) -> tuple[pki_service.CertificateRead, bytes, bytes]:
    """Issue `user` a certificate, have them sign a contract; return (cert, signed PDF, root DER)."""
    from qianshu.signing import service as signing_service
    from qianshu.signing.contract_pdf import ContractParty, demo_contract_pdf
    from qianshu.signing.schemas import TextAppearance

    with runtime.transaction() as s:
        cert = pki_service.issue_person_certificate(session=s, clock=runtime.clock, subject_id=user, name=NAME)
        chain = pki_service.ca_chain(session=s)
        root = pki_service.root_certificate_der(session=s)
    parties = (
        ContractParty("甲方", "委托方", NAME, "身份证件号码：3101**********1234", "上海"),
        ContractParty("乙方", "服务方", "李四", "身份证件号码：3101**********5678", "上海"),
    )
    contract, (area, _other) = demo_contract_pdf(font_path=runtime.settings.reportlab_cjk_font, parties=parties)
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=contract,
        key_label=cert.key_label,
        cert_der=cert.der,
        chain_der=chain,
        field_name="Signature_a",
        appearance=TextAppearance(),
        page=area.page,
        rect=area.rect,
    )
    return cert, signing_service.complete_document(runtime=runtime, data=signed), root


def _cancel(runtime: Runtime, outbox: Outbox, clock: FrozenClock, user: str) -> None:
    with runtime.transaction() as s:
        challenge = cancellation.start(session=s, clock=clock, user_id=user)
    with runtime.transaction() as s:
        cancellation.confirm(
            session=s, clock=clock, user_id=user, request_id=challenge.request_id, code=outbox.last_code(PHONE)
        )
    clock.advance(timedelta(days=runtime.settings.cancellation_cooling_off_days, minutes=1))
    with runtime.transaction() as s:
        assert cancellation.execute(session=s, clock=clock, request_id=challenge.request_id)


def _raw_certificate_values(runtime: Runtime) -> list[bytes]:
    """Every non-null value of every row of `pki_certificate`, as the database holds it."""
    found = []
    with runtime.engine.connect() as conn:
        table = Table("pki_certificate", MetaData(), autoload_with=conn)
        for row in conn.execute(select(table)):
            for value in row:
                if value is not None:
                    found.append(bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode())
    return found


def _ocsp_by_hash(runtime: Runtime, clock: FrozenClock, serial: int) -> ocsp.OCSPResponse:
    """Ask the responder about `serial` the way a relying party does: issuer hashes plus serial."""
    with runtime.transaction() as s:
        issuing = x509.load_der_x509_certificate(pki_service.ca_chain(session=s)[0])
        subject_der = issuing.subject.public_bytes()
        key_bits = issuing.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_hash = hashes.Hash(hashes.SHA1())
        key_hash.update(bytes(asn1_keys.PublicKeyInfo.load(key_bits)["public_key"]))
        name_hash = hashes.Hash(hashes.SHA1())
        name_hash.update(subject_der)
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate_by_hash(name_hash.finalize(), key_hash.finalize(), serial, hashes.SHA1())
            .build()
        )
        der = pki_service.ocsp_response(
            session=s, clock=clock, request_der=request.public_bytes(serialization.Encoding.DER)
        )
    return ocsp.load_der_ocsp_response(der)


def test_cancelled_persons_certificates_name_nobody_yet_stay_revoked_and_verifiable(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    from qianshu.signing import service as signing_service

    user = register_user(runtime, outbox, PHONE, name=NAME)
    first, _pdf, _root = _sign(runtime, user)
    cert, signed_pdf, root_der = _sign(runtime, user)  # renewed: the first one is superseded
    assert first.der and NAME.encode() in cert.der  # the certificate names its holder

    _cancel(runtime, outbox, clock, user)

    # the raw table no longer names the person (neither certificate, in any column)
    raw = _raw_certificate_values(runtime)
    assert raw and not any(NAME.encode() in value for value in raw)
    with runtime.transaction() as s:
        rows = {c.id: c for c in pki_service.list_certificates_for(session=s, subject_id=user)}
        assert set(rows) == {first.id, cert.id}
        for row in rows.values():
            assert row.redacted and row.der == b"" and row.redacted_at == clock.now()
        # what the CA needs is kept: serial, fingerprint, issuer, validity, revocation
        kept = rows[cert.id]
        assert (kept.serial, kept.fingerprint, kept.issuer_id) == (cert.serial, cert.fingerprint, cert.issuer_id)
        assert (kept.not_before, kept.not_after, kept.retain_until) == (
            cert.not_before,
            cert.not_after,
            cert.retain_until,
        )
        assert kept.status == "revoked" and kept.revocation_reason == "cessation_of_operation"
        assert rows[first.id].status == "superseded"
        crl = x509.load_der_x509_crl(pki_service.crl_der(session=s, clock=clock))
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        assert entry is not None
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
            x509.ReasonFlags.cessation_of_operation
        )
        # the privacy centre (masked, for staff) shows no name either
        assert NAME not in centre.subject_data_masked(session=s, clock=clock, user_id=user).model_dump_json()

    # OCSP answers "revoked" for the serial: asked by issuer hashes, and for embedding by id
    response = _ocsp_by_hash(runtime, clock, cert.serial_number)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.serial_number == cert.serial_number
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.cessation_of_operation
    with runtime.transaction() as s:
        embedded = pki_service.ocsp_response_for(session=s, clock=clock, cert_id=cert.id)
    single = asn1_ocsp.OCSPResponse.load(embedded).basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_id"]["serial_number"].native == cert.serial_number
    assert single["cert_status"].name == "revoked"
    assert single["cert_status"].chosen["revocation_reason"].native == "cessation_of_operation"

    # the retention key (offline, the operator's) opens the original certificates, staff cannot
    private_key = retention_private_key_path(runtime).read_bytes()
    with runtime.transaction() as s:
        opened = retention.open_retained_records(session=s, user_id=user, private_key=private_key)
    assert sorted(base64.b64decode(v) for v in opened["pki.certificate"]) == sorted([first.der, cert.der])

    # E4: the contract signed before still validates offline (its PDF carries the certificate)
    report = signing_service.validate_pdf(signed_pdf, trust_roots=[root_der])
    assert report.ok, report


def test_a_redacted_certificate_cannot_be_renewed_or_parsed_and_the_api_shows_no_pem(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE, name=NAME)
    with runtime.transaction() as s:
        cert = pki_service.issue_person_certificate(session=s, clock=clock, subject_id=user, name=NAME)
        # an active certificate can still sign: its subject is never removed
        with pytest.raises(InvalidInput):
            pki_service.redact_person_certificates(session=s, clock=clock, user_id=user)
        # redacting needs a person's id
        with pytest.raises(InvalidInput):
            pki_service.redact_person_certificates(session=s, clock=clock, user_id="org_x")
    _cancel(runtime, outbox, clock, user)
    with runtime.transaction() as s:
        read = pki_service.get_certificate_or_raise(session=s, cert_id=cert.id)
        assert read.redacted
        with pytest.raises(pki_service.CertificateRedacted):
            _ = read.pem
        out = CertificateOut.of(read)
        assert out.redacted and out.pem is None
        with pytest.raises(pki_service.CertificateRedacted):
            records.load(s.get(Certificate, cert.id))  # type: ignore[arg-type]
        # nothing left to seal, nothing left to redact a second time
        assert pki_service.privacy_retained_for(session=s, clock=clock, user_id=user) == []
        assert pki_service.redact_person_certificates(session=s, clock=clock, user_id=user) == 0


def test_renewing_a_redacted_certificate_is_refused_clearly(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE, name=NAME)
    with runtime.transaction() as s:
        cert = pki_service.issue_person_certificate(session=s, clock=clock, subject_id=user, name=NAME)
    # a record redacted while still marked active (say, by an operator's repair) is not re-issued
    with runtime.transaction() as s:
        row = s.get(Certificate, cert.id)
        assert row is not None
        row.der, row.redacted_at = b"", clock.now()
    with runtime.transaction() as s, pytest.raises(pki_service.CertificateRedacted) as caught:
        pki_service.renew_certificate(session=s, clock=clock, cert_id=cert.id, actor=user)
    assert "注销" in caught.value.detail
