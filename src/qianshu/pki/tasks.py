"""Background jobs of the PKI: hourly CRL and responder-certificate refresh; retired-key destruction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.runtime import Runtime
from qianshu.jobs import service as jobs_service
from qianshu.jobs.service import handler
from qianshu.pki import ca, certificates, crl
from qianshu.pki.custody import custody_for

REFRESH_JOB = "pki.refresh_crls"
REFRESH_EVERY = timedelta(hours=1)


def schedule_crl_refresh(*, session: Session, clock: Clock, delay: timedelta | None = None) -> str:
    """Enqueue the CRL refresh for the hour it runs in (one job per hour; idempotent)."""
    run_at = clock.now() + (delay or timedelta(0))
    return jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=REFRESH_JOB,
        payload={},
        delay=delay,
        dedupe_key=f"{REFRESH_JOB}:{run_at.strftime('%Y-%m-%dT%H')}",
    )


@handler(REFRESH_JOB)
def refresh_crls(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Re-sign CRLs past half their validity, renew the responder certificates, queue the next run."""
    custody = custody_for(runtime)
    for kind in ("ocsp", "tsa"):
        ca.ensure_service_certificate(session, runtime.clock, kind, custody=custody)
    crl.refresh_crls(session=session, clock=runtime.clock)
    schedule_crl_refresh(session=session, clock=runtime.clock, delay=REFRESH_EVERY)


@handler(certificates.DESTROY_KEY_JOB)
def destroy_key(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Destroy the custody key of a superseded or revoked certificate."""
    cert_id = payload.get("cert_id")
    if isinstance(cert_id, str):
        certificates.destroy_retired_key(session=session, cert_id=cert_id)
