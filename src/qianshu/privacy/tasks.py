"""Jobs of the privacy domain: data copies, deadline alerts, cancellations, the retention sweep.

Payloads carry ids only. The daily jobs re-queue themselves for the next slot; `ensure_schedules`
queues them on start (idempotent, one job per slot).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.jobs.service import handler
from qianshu.privacy import cancellation, export, incidents, requests, retention


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


def ensure_schedules(*, runtime: Runtime) -> None:
    """Startup hook: queue the next deadline scan and retention sweep."""
    with runtime.transaction() as session:
        requests.ensure_scan_scheduled(session=session, clock=runtime.clock)
        retention.ensure_sweep_scheduled(session=session, clock=runtime.clock)
