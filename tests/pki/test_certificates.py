"""Signer certificates: issue, renew, revoke, usability checks, retention, no personal data leaks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.jobs.models import Job
from qianshu.pki import service as pki_service
from qianshu.pki.custody import custody_for
from qianshu.pki.models import Certificate
from tests.pki.conftest import USCC, MakePerson

NAME = "欧阳娜娜"


def test_person_certificate_profile(make_person: MakePerson, runtime: Runtime) -> None:
    subject_id = new_id("usr")
    cert = make_person(NAME, subject_id)
    parsed = x509.load_der_x509_certificate(cert.der)
    assert parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAME
    assert parsed.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == subject_id.replace(
        "_", "-"
    )
    ku = parsed.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    assert not parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert parsed.serial_number >= 2**63 and parsed.serial_number.bit_length() <= 159
    assert cert.not_after - cert.not_before == timedelta(days=runtime.settings.cert_validity_days)
    assert cert.retain_until == cert.not_after.replace(year=cert.not_after.year + 5)
    assert cert.kind == "person" and cert.status == "active" and cert.subject_id == subject_id


def test_org_certificate_profile(session: Session, clock: FrozenClock) -> None:
    org_id = new_id("org")
    cert = pki_service.issue_org_certificate(
        session=session, clock=clock, subject_id=org_id, org_name="杭州示例科技有限公司", uscc=USCC.lower()
    )
    subject = x509.load_der_x509_certificate(cert.der).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "杭州示例科技有限公司"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "NTRCN-" + USCC
    assert cert.kind == "org"
    events = evidence_service.list_events(session=session, stream=f"org:{org_id}")
    assert [e.action for e in events] == ["pki.certificate_issued"]


def test_key_is_in_custody_and_matches_the_certificate(make_person: MakePerson, runtime: Runtime) -> None:
    cert = make_person()
    ref = custody_for(runtime).get(cert.key_label)
    assert ref is not None
    public = x509.load_der_x509_certificate(cert.der).public_key()
    assert (
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == ref.public_key_der
    )
    signature = custody_for(runtime).sign_digest(
        cert.key_label, hashes.Hash(hashes.SHA256()).finalize(), "sha256"
    )
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"", ec.ECDSA(hashes.SHA256()))


def test_name_is_in_no_other_column_or_audit_event(make_person: MakePerson, session: Session) -> None:
    cert = make_person(NAME)
    row = session.get(Certificate, cert.id)
    assert row is not None
    for column in Certificate.__table__.columns:
        if column.name != "der":
            assert NAME not in str(getattr(row, column.name))
    for event in evidence_service.list_events(session=session, stream=f"user:{cert.subject_id}"):
        assert NAME not in repr(event)


@pytest.mark.parametrize(
    ("subject_id", "name"),
    [
        ("usr_bad", "张三"),
        ("org_" + "a" * 20, "张三"),
        ("usr_" + "a" * 20, ""),
        ("usr_" + "a" * 20, "   "),
        ("usr_" + "a" * 20, "张" * 65),
        ("usr_" + "a" * 20, "张\u0000三"),
        ("usr_" + "a" * 20, "张\u202e三"),
    ],
)
def test_bad_person_input_is_refused(
    session: Session, clock: FrozenClock, subject_id: str, name: str
) -> None:
    with pytest.raises(InvalidInput):
        pki_service.issue_person_certificate(session=session, clock=clock, subject_id=subject_id, name=name)


@pytest.mark.parametrize("uscc", ["91350100M000100Y44", "91350100M000100Y4", "I1350100M000100Y43", ""])
def test_bad_uscc_is_refused(session: Session, clock: FrozenClock, uscc: str) -> None:
    with pytest.raises(InvalidInput):
        pki_service.issue_org_certificate(
            session=session, clock=clock, subject_id=new_id("org"), org_name="示例公司", uscc=uscc
        )


def test_renew_supersedes_and_destroys_the_old_key(
    make_person: MakePerson,
    session: Session,
    clock: FrozenClock,
    runtime: Runtime,
    run_jobs: Callable[[], int],
) -> None:
    old = make_person(NAME)
    new = pki_service.renew_certificate(
        session=session, clock=clock, cert_id=old.id, actor=old.subject_id or ""
    )
    session.commit()
    assert new.id != old.id and new.key_label != old.key_label and new.serial != old.serial
    assert x509.load_der_x509_certificate(new.der).subject == x509.load_der_x509_certificate(old.der).subject
    reloaded = pki_service.get_certificate(session=session, cert_id=old.id)
    assert reloaded is not None and reloaded.status == "superseded" and reloaded.superseded_by == new.id
    assert pki_service.current_certificate_for(session=session, subject_id=old.subject_id or "") == new
    run_jobs()
    assert custody_for(runtime).get(old.key_label) is None
    assert custody_for(runtime).get(new.key_label) is not None
    with pytest.raises(pki_service.CertificateSuperseded):
        pki_service.check_usable(session=session, clock=clock, cert=reloaded)
    actions = [
        e.action for e in evidence_service.list_events(session=session, stream=f"user:{old.subject_id}")
    ]
    assert actions == ["pki.certificate_issued", "pki.certificate_renewed"]


def test_renewing_a_superseded_or_revoked_certificate_is_refused(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    old = make_person()
    owner = old.subject_id or ""
    new = pki_service.renew_certificate(session=session, clock=clock, cert_id=old.id, actor=owner)
    with pytest.raises(pki_service.CertificateSuperseded):
        pki_service.renew_certificate(session=session, clock=clock, cert_id=old.id, actor=owner)
    pki_service.revoke_certificate(session=session, clock=clock, cert_id=new.id, actor=owner)
    with pytest.raises(pki_service.CertificateRevoked):
        pki_service.renew_certificate(session=session, clock=clock, cert_id=new.id, actor=owner)


def test_only_owner_or_operator_may_revoke(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    with pytest.raises(pki_service.NotCertificateOwner):
        pki_service.revoke_certificate(session=session, clock=clock, cert_id=cert.id, actor=new_id("usr"))
    with pytest.raises(pki_service.NotCertificateOwner):
        pki_service.renew_certificate(session=session, clock=clock, cert_id=cert.id, actor=new_id("usr"))
    operator_id = new_id("usr")
    revoked = pki_service.revoke_certificate(
        session=session,
        clock=clock,
        cert_id=cert.id,
        actor=operator_id,
        reason="key_compromise",
        operator=True,
    )
    assert revoked.status == "revoked" and revoked.revocation_reason == "key_compromise"
    assert revoked.revoked_at == clock.now()
    event = evidence_service.list_events(session=session, stream=f"user:{cert.subject_id}")[-1]
    assert event.action == "pki.certificate_revoked" and event.actor == operator_id


def test_org_agent_revokes_when_vouched_for(session: Session, clock: FrozenClock) -> None:
    org_id = new_id("org")
    cert = pki_service.issue_org_certificate(
        session=session, clock=clock, subject_id=org_id, org_name="示例", uscc=USCC
    )
    agent = new_id("usr")
    revoked = pki_service.revoke_certificate(
        session=session,
        clock=clock,
        cert_id=cert.id,
        actor=agent,
        acting_for=org_id,
        reason="affiliation_changed",
    )
    assert revoked.status == "revoked"


def test_revocation_is_final_and_checked(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    owner = cert.subject_id or ""
    pki_service.revoke_certificate(session=session, clock=clock, cert_id=cert.id, actor=owner)
    with pytest.raises(pki_service.CertificateRevoked):
        pki_service.revoke_certificate(session=session, clock=clock, cert_id=cert.id, actor=owner)
    reloaded = pki_service.get_certificate_or_raise(session=session, cert_id=cert.id)
    with pytest.raises(pki_service.CertificateRevoked):
        pki_service.check_usable(session=session, clock=clock, cert=reloaded)
    assert pki_service.current_certificate_for(session=session, subject_id=owner) is None


@pytest.mark.parametrize("reason", ["certificate_hold", "because", "remove_from_crl"])
def test_unknown_revocation_reason_is_refused(
    make_person: MakePerson, session: Session, clock: FrozenClock, reason: str
) -> None:
    cert = make_person()
    with pytest.raises(InvalidInput):
        pki_service.revoke_certificate(
            session=session, clock=clock, cert_id=cert.id, actor=cert.subject_id or "", reason=reason
        )


def test_ca_certificates_cannot_be_revoked_here(session: Session, clock: FrozenClock) -> None:
    issuing = pki_service.ca_certificate(session=session, kind="issuing")
    with pytest.raises(InvalidInput):
        pki_service.revoke_certificate(
            session=session, clock=clock, cert_id=issuing.id, actor="cli", operator=True
        )


def test_unknown_certificate_is_not_found(session: Session, clock: FrozenClock) -> None:
    with pytest.raises(pki_service.CertificateNotFound):
        pki_service.revoke_certificate(
            session=session, clock=clock, cert_id=new_id("crt"), actor="cli", operator=True
        )
    assert pki_service.get_certificate(session=session, cert_id=new_id("crt")) is None


def test_require_signing_certificate(
    make_person: MakePerson, session: Session, clock: FrozenClock, runtime: Runtime
) -> None:
    subject_id = new_id("usr")
    with pytest.raises(pki_service.CertificateNotFound):
        pki_service.require_signing_certificate(session=session, clock=clock, subject_id=subject_id)
    cert = make_person(subject_id=subject_id)
    assert (
        pki_service.require_signing_certificate(session=session, clock=clock, subject_id=subject_id) == cert
    )
    custody_for(runtime).destroy(cert.key_label)
    with pytest.raises(pki_service.SigningKeyMissing):
        pki_service.require_signing_certificate(session=session, clock=clock, subject_id=subject_id)


def test_expired_certificate_cannot_sign(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    clock.advance(timedelta(days=366))
    with pytest.raises(pki_service.CertificateExpired):
        pki_service.require_signing_certificate(
            session=session, clock=clock, subject_id=cert.subject_id or ""
        )


def test_issuing_again_supersedes_the_current_certificate(make_person: MakePerson, session: Session) -> None:
    subject_id = new_id("usr")
    first = make_person("王五", subject_id)
    second = make_person("王五", subject_id)
    assert pki_service.current_certificate_for(session=session, subject_id=subject_id) == second
    history = pki_service.list_certificates_for(session=session, subject_id=subject_id)
    assert [c.id for c in history] == [second.id, first.id]
    assert history[1].status == "superseded"
    jobs = session.scalars(select(Job).where(Job.kind == "pki.destroy_key")).all()
    assert [j.payload for j in jobs] == [{"cert_id": first.id}]


def test_records_are_kept_until_retain_until(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    cert = make_person()
    clock.set(cert.not_after + timedelta(days=5 * 365))  # expired for five 365-day years, before retain_until
    assert pki_service.purge_expired_certificates(session=session, clock=clock) == 0
    assert pki_service.get_certificate(session=session, cert_id=cert.id) is not None
    clock.set(cert.retain_until + timedelta(seconds=1))
    assert pki_service.purge_expired_certificates(session=session, clock=clock) == 1
    assert pki_service.get_certificate(session=session, cert_id=cert.id) is None
    assert pki_service.ca_certificate(session=session, kind="issuing") is not None  # CA records stay


def test_fingerprint_lookup(make_person: MakePerson, session: Session) -> None:
    cert = make_person()
    assert (
        pki_service.get_certificate_by_fingerprint(session=session, fingerprint=cert.fingerprint.upper())
        == cert
    )


def test_failed_issuance_leaves_no_key_behind(
    session: Session, clock: FrozenClock, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qianshu.pki import records

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(records, "store_certificate", broken)
    before = set((runtime.settings.secrets_dir / "keys").iterdir())
    with pytest.raises(RuntimeError):
        pki_service.issue_person_certificate(
            session=session, clock=clock, subject_id=new_id("usr"), name="张三"
        )
    assert set((runtime.settings.secrets_dir / "keys").iterdir()) == before
