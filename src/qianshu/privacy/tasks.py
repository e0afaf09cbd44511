"""Jobs of the privacy domain: data copies, deadline alerts, cancellations, the retention sweep.

Payloads carry ids only. The daily jobs re-queue themselves for the next slot; `ensure_schedules`
queues them on start (idempotent, one job per slot).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.jobs.service import handler
from qianshu.privacy import cancellation, export, incidents, requests, retention

log = get_logger("qianshu.privacy")


@handler(export.BUILD_JOB)
def build_export(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Build one data copy."""
    export.build_export(session=session, clock=runtime.clock, export_id=str(payload["export_id"]))


@handler(requests.SCAN_JOB)
def scan_deadlines(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Flag requests near or past their deadline, alert privacy officers, and queue tomorrow's scan."""
    requests.scan_deadlines(session=session, clock=runtime.clock)
    requests.ensure_scan_scheduled(session=session, clock=runtime.clock)


@handler(cancellation.EXECUTE_JOB)
def execute_cancellation(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Carry out a cancellation whose cooling-off period ended."""
    cancellation.execute(session=session, clock=runtime.clock, request_id=str(payload["request_id"]))


@handler(retention.SWEEP_JOB)
def retention_sweep(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Apply retention periods, run overdue cancellations, and queue tomorrow's sweep."""
    cancellation.run_due(session=session, clock=runtime.clock)
    retention.run_sweep(session=session, clock=runtime.clock)
    retention.ensure_sweep_scheduled(session=session, clock=runtime.clock)


@handler(incidents.NOTIFY_JOB)
def incident_notify(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Send the next batch of incident notices."""
    incidents.notify_batch(session=session, clock=runtime.clock, incident_id=str(payload["incident_id"]))


def ensure_schedules(*, runtime: Runtime) -> str | None:
    """Startup hook: queue the next deadline scan and retention sweep; check the retention key."""
    from qianshu.jobs.schedules import schedule_once

    now = runtime.clock.now()
    with runtime.transaction() as session:  # race-free when several processes start at once
        for kind, run_at in (
            (requests.SCAN_JOB, requests.next_scan_time(now)),
            (retention.SWEEP_JOB, retention.next_sweep_time(now)),
        ):
            schedule_once(
                session=session,
                clock=runtime.clock,
                kind=kind,
                payload={},
                run_at=run_at,
                key=f"{kind}:{run_at.date().isoformat()}",
            )
    return check_retention_key(runtime=runtime)


def check_retention_key(*, runtime: Runtime) -> str | None:
    """Warn when the retention key is missing or its private half is on the platform (startup).

    Without a retention public key no account can be closed (the law keeps signing records). A demo
    instance makes one on first start and prints its private key once; elsewhere the operator runs
    `qianshu privacy retention-key init --out <offline file>` (a warning says so on every start).
    """
    from qianshu.vault import service as vault_service

    status = vault_service.retention_key_status(runtime=runtime)
    if status.private_key_on_platform:
        log.warning("privacy_retention_private_key_on_platform")
    if status.kid is not None:
        return None
    if not runtime.settings.demo:
        log.warning("privacy_retention_key_missing")
        return None
    try:
        kid, pem = retention.create_retention_key(runtime=runtime, out=None)
    except vault_service.VaultIntegrityError:
        # another process starting at the same time made it first (creation is locked): use theirs
        if vault_service.retention_key_status(runtime=runtime).kid is None:
            raise
        return None
    return (
        f"演示模式：已生成留存密钥 {kid}。私钥只显示这一次，平台不保存 / demo: retention key {kid} made; "
        f"its private key is shown once and not kept:\n{pem.decode('ascii')}"
    )
