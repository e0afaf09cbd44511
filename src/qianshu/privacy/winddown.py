"""Winding the service down (P15; YQ1 三(一)2, TX 一(三); 电子签名法 第23条 for the CA).

`qianshu wind-down` runs, in order and each step idempotent:
1. stop collecting: a platform switch other domains ask through `collection_stopped` (registration,
   identity checks and uploads should refuse new personal data with `CollectionStopped`);
2. announce: every active account is told the end date (SMS or e-mail, through notify);
3. with `--purge`: every remaining account is closed as a cancellation would close it — records
   under legal retention are sealed under retention keys, certificates revoked, everything else
   crypto-shredded (only de-identified statistics remain);
4. hand over the CA's records to the successor or the regulator: the CA certificates, every signer
   certificate record still kept, the current CRLs and the audit chain's verification report,
   written as files into a folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.privacy import notices
from qianshu.privacy.centre_models import ServiceState
from qianshu.privacy.errors import CollectionStopped

COLLECTION_KEY = "collection"


@dataclass
class WindDownReport:
    """What the wind-down did."""

    collection_stopped_since: str
    end_date: str
    announced: int = 0
    accounts_closed: int = 0
    handover_files: list[str] = field(default_factory=list)


def collection_stopped(*, session: Session) -> bool:
    """Tell whether the platform stopped collecting personal information (domains ask before collecting)."""
    row = session.get(ServiceState, COLLECTION_KEY)
    return bool(row and row.value.get("stopped"))


def check_collection_allowed(*, session: Session) -> None:
    """Raise `CollectionStopped` once the service is winding down."""
    if collection_stopped(session=session):
        raise CollectionStopped(
            "服务已停止运营，不再收集个人信息", detail_en="The service no longer collects personal data"
        )


def stop_collection(*, session: Session, clock: Clock, actor: str, end_date: date) -> dict[str, Any]:
    """Switch collection off (once) and record the announced end date."""
    row = session.get(ServiceState, COLLECTION_KEY)
    if row is None or not row.value.get("stopped"):
        value = {"stopped": True, "since": clock.now().isoformat(), "end_date": end_date.isoformat()}
        if row is None:
            row = ServiceState(key=COLLECTION_KEY, value=value, updated_at=clock.now(), updated_by=actor)
            session.add(row)
        else:
            row.value, row.updated_at, row.updated_by = value, clock.now(), actor
        session.flush()
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream="system",
            actor=actor,
            action="privacy.collection_stopped",
            data={"end_date": end_date.isoformat()},
        )
    return dict(row.value)


def _active_user_ids(session: Session, *, include_operators: bool) -> list[str]:
    from qianshu.accounts import service as accounts_service

    users = accounts_service.list_users(session=session, limit=10_000_000)
    return [u.id for u in users if u.status == "active" and (include_operators or u.role == "user")]


def announce(*, session: Session, clock: Clock, end_date: date) -> int:
    """Tell every active account the service ends on `end_date`; return how many were reached."""
    reached = 0
    for user_id in _active_user_ids(session, include_operators=False):
        if notices.notify_user(
            session=session,
            clock=clock,
            user_id=user_id,
            template="privacy_service_winddown",
            params={"date": end_date.isoformat()},
        ):
            reached += 1
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor="system",
        action="privacy.winddown_announced",
        data={"reached": reached},
    )
    return reached


def close_all_accounts(*, session: Session, clock: Clock) -> int:
    """Close every remaining account as a cancellation would (retention sealed, the rest shredded)."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import cancellation, retention

    closed = 0
    for user_id in _active_user_ids(session, include_operators=True):
        retention.seal_retained(session=session, clock=clock, user_id=user_id)
        cancellation.revoke_all_certificates(session=session, clock=clock, user_id=user_id)
        accounts_service.cancel_user(session=session, clock=clock, user_id=user_id)
        closed += 1
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor="system",
        action="privacy.winddown_purged",
        data={"accounts_closed": closed},
    )
    return closed


def hand_over_ca_records(
    *, session: Session, clock: Clock, out_dir: Path, subject_ids: list[str]
) -> list[str]:
    """Write the CA's records into `out_dir` for the successor or the regulator; return the file names."""
    from qianshu.pki import service as pki_service

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def put(name: str, data: bytes) -> None:
        (out_dir / name).write_bytes(data)
        written.append(name)

    for kind in ("root", "issuing", "tsa", "ocsp"):
        put(
            f"ca-{kind}.pem",
            pki_service.pem(pki_service.ca_certificate(session=session, kind=kind).der).encode(),
        )
    for which in ("root", "issuing"):
        put(f"crl-{which}.crl", pki_service.crl_der(session=session, clock=clock, which=which))
    index = []
    for subject_id in subject_ids:
        for cert in pki_service.list_certificates_for(session=session, subject_id=subject_id):
            if not cert.redacted:  # redacted at cancellation: the DER is in the sealed retention record
                put(f"cert-{cert.id}.pem", cert.pem.encode())
            index.append(
                {
                    "id": cert.id,
                    "redacted": cert.redacted,
                    "subject_id": subject_id,
                    "serial": cert.serial,
                    "status": cert.status,
                    "not_after": cert.not_after.isoformat(),
                    "retain_until": cert.retain_until.isoformat(),
                }
            )
    put("certificates.json", json.dumps(index, ensure_ascii=False, indent=2).encode())
    report = evidence_service.verify_chains(session=session)
    put("audit-verification.json", report.model_dump_json(indent=2).encode())
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor="system",
        action="privacy.ca_records_handed_over",
        data={"files": len(written), "certificates": len(index)},
    )
    return written


def run_wind_down(*, runtime: Runtime, end_date: date, out_dir: Path | None, purge: bool) -> WindDownReport:
    """Stop collection, announce, and (with `purge`) close every account and hand over CA records."""
    from qianshu.accounts import service as accounts_service

    clock = runtime.clock
    with runtime.transaction() as session:
        state = stop_collection(session=session, clock=clock, actor="system", end_date=end_date)
        report = WindDownReport(collection_stopped_since=str(state["since"]), end_date=str(state["end_date"]))
        report.announced = announce(session=session, clock=clock, end_date=end_date)
    if purge:
        with runtime.transaction() as session:
            subjects = [u.id for u in accounts_service.list_users(session=session, limit=10_000_000)]
            if out_dir is not None:
                report.handover_files = hand_over_ca_records(
                    session=session, clock=clock, out_dir=out_dir, subject_ids=subjects
                )
            report.accounts_closed = close_all_accounts(session=session, clock=clock)
    elif out_dir is not None:
        with runtime.transaction() as session:
            subjects = [u.id for u in accounts_service.list_users(session=session, limit=10_000_000)]
            report.handover_files = hand_over_ca_records(
                session=session, clock=clock, out_dir=out_dir, subject_ids=subjects
            )
    return report
