"""CRLs (RFC 5280 §5): openssl -crl_check, numbering, regeneration on revocation and before nextUpdate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.jobs.models import Job
from qianshu.pki import service as pki_service
from qianshu.pki.models import Crl
from tests.pki.conftest import MakePerson, Openssl


def _crl(der: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(der)


def _number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def _verify(
    openssl: Openssl, ca_files: dict[str, Path], cert: Path, crls: list[Path], *, all_levels: bool
) -> Any:
    args = [
        "verify",
        "-crl_check_all" if all_levels else "-crl_check",
        "-CAfile",
        str(ca_files["root"]),
        "-untrusted",
        str(ca_files["issuing"]),
    ]
    for crl in crls:
        args += ["-CRLfile", str(crl)]
    return openssl(*args, str(cert))


def test_openssl_crl_check_passes_then_fails_after_revocation(
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
    issuing_crl = pki_files("issuing.crl", client.get("/pki/issuing.crl").content, as_pem=False)
    root_crl = pki_files("root.crl", client.get("/pki/root.crl").content, as_pem=False)
    ok = _verify(openssl, ca_files, ee, [issuing_crl], all_levels=False)
    assert ok.returncode == 0, ok.stderr
    ok_all = _verify(openssl, ca_files, ee, [issuing_crl, root_crl], all_levels=True)
    assert ok_all.returncode == 0, ok_all.stderr

    pki_service.revoke_certificate(
        session=session, clock=clock, cert_id=cert.id, actor=cert.subject_id or "", reason="key_compromise"
    )
    session.commit()
    r = client.get("/pki/issuing.crl")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-crl"
    revoked_crl = pki_files("issuing-2.crl", r.content, as_pem=False)
    bad = _verify(openssl, ca_files, ee, [revoked_crl], all_levels=False)
    assert bad.returncode != 0
    assert "certificate revoked" in (bad.stdout + bad.stderr)


def test_crl_lists_revocations_with_reasons_and_increasing_numbers(
    make_person: MakePerson, session: Session, clock: FrozenClock
) -> None:
    first = _crl(pki_service.crl_der(session=session, clock=clock))
    a, b = make_person(), make_person()
    pki_service.revoke_certificate(session=session, clock=clock, cert_id=a.id, actor=a.subject_id or "")
    pki_service.revoke_certificate(
        session=session, clock=clock, cert_id=b.id, actor=b.subject_id or "", reason="cessation_of_operation"
    )
    crl = _crl(pki_service.crl_der(session=session, clock=clock))
    assert _number(crl) == _number(first) + 2
    entry_a = crl.get_revoked_certificate_by_serial_number(a.serial_number)
    entry_b = crl.get_revoked_certificate_by_serial_number(b.serial_number)
    assert entry_a is not None and entry_b is not None
    assert len(entry_a.extensions) == 0  # unspecified: no reasonCode (§5.3.1)
    assert (
        entry_b.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.cessation_of_operation
    )
    assert entry_b.revocation_date_utc == clock.now()
    issuing = x509.load_der_x509_certificate(pki_service.ca_chain(session=session)[0])
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    assert crl.issuer == issuing.subject


def test_stale_crl_is_regenerated_when_served(
    session: Session, clock: FrozenClock, client: Any, runtime: Runtime
) -> None:
    first = _crl(client.get("/pki/issuing.crl").content)
    assert first.next_update_utc is not None
    assert first.next_update_utc - first.last_update_utc == timedelta(
        hours=runtime.settings.crl_validity_hours
    )
    clock.advance(timedelta(hours=1))
    assert _number(_crl(client.get("/pki/issuing.crl").content)) == _number(first)  # still fresh
    clock.advance(timedelta(hours=12))  # past half its validity
    second = _crl(client.get("/pki/issuing.crl").content)
    assert _number(second) == _number(first) + 1
    assert second.last_update_utc == clock.now()
    assert second.next_update_utc is not None and second.next_update_utc > first.next_update_utc


def test_refresh_job_regenerates_and_reschedules(
    session: Session, clock: FrozenClock, runtime: Runtime, run_jobs: Callable[[], int]
) -> None:
    def latest_number() -> int:
        session.expire_all()
        return int(session.scalar(select(func.max(Crl.number))) or 0)

    def refresh_jobs(status: str) -> list[Job]:
        session.expire_all()
        return list(session.scalars(select(Job).where(Job.kind == "pki.refresh_crls", Job.status == status)))

    before = latest_number()
    pki_service.ensure_schedules(runtime=runtime)
    pki_service.ensure_schedules(runtime=runtime)  # idempotent
    assert len(refresh_jobs("queued")) == 1
    run_jobs()
    assert refresh_jobs("done") == []  # the first run is an hour away; start-up already refreshed
    clock.advance(timedelta(hours=1))
    run_jobs()
    assert len(refresh_jobs("done")) == 1
    assert latest_number() == before  # still fresh: nothing re-signed
    clock.advance(timedelta(hours=12))  # past half the CRLs' validity; the next run is due
    run_jobs()
    assert len(refresh_jobs("done")) == 2
    assert latest_number() == before + 1
    nxt = refresh_jobs("queued")
    assert len(nxt) == 1 and nxt[0].run_after == clock.now() + timedelta(hours=1)


def test_root_crl_is_signed_by_the_root(session: Session, clock: FrozenClock, client: Any) -> None:
    crl = _crl(client.get("/pki/root.crl").content)
    root = x509.load_der_x509_certificate(pki_service.root_certificate_der(session=session))
    assert crl.issuer == root.subject
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
