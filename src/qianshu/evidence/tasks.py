"""Background jobs of the audit trail: the daily network-log purge."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.jobs.service import handler


@handler(evidence_service.PURGE_JOB)
def purge_network_logs(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Purge network logs past their retention period, then queue the next daily run."""
    evidence_service.purge_network_logs(session=session, clock=runtime.clock)
    evidence_service.schedule_network_log_purge(session=session, clock=runtime.clock)


# Preservation certificates and evidence reports (evidence.preservation.certify, evidence.report.issue).
import qianshu.evidence.evidence_tasks  # noqa: E402, F401

# The transparency log registers its jobs (evidence.log.sequence) in its own module.
from qianshu.evidence import log_tasks  # noqa: E402, F401
