"""Jobs of preservation, evidence reports and audit anchors (registered through `evidence/tasks.py`).

Both wait for the transparency log: a certificate names the entry's index, and a report carries
inclusion proofs. While the entry is pending they ask to be retried (with backoff).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.evidence import anchors, preservation, reports, translog
from qianshu.jobs.service import RetryLater, handler


@handler(preservation.CERTIFY_JOB)
def certify_preservation(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Certify a preservation once its log entry is sequenced; retry while it is pending."""
    preservation_id = str(payload.get("preservation_id", ""))
    translog.sequence_pending(runtime)  # before this session reads, so it sees the new index
    if preservation.certify(session=session, preservation_id=preservation_id) is None:
        raise RetryLater("the preservation's log entry is still pending")


@handler(reports.ISSUE_JOB)
def issue_report(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Issue an approved report once its subject's log entries are sequenced; retry while pending."""
    report_id = str(payload.get("report_id", ""))
    translog.sequence_pending(runtime)
    if reports.issue_report(session=session, report_id=report_id) is None:
        raise RetryLater("the subject's log entries are still pending")


@handler(anchors.ANCHOR_JOB)
def anchor_audit_heads(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Anchor every audit stream whose head moved in the log, then queue the next run."""
    done = anchors.anchor_heads(session=session, clock=runtime.clock)
    more = len(done) >= anchors.MAX_STREAMS_PER_RUN
    anchors.schedule_anchoring(session=session, clock=runtime.clock, at_once=more)
