"""Jobs of the contracts domain: expiry at the deadline."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.contracts import service as contracts_service
from qianshu.core.runtime import Runtime
from qianshu.jobs.service import handler


@handler(contracts_service.EXPIRE_JOB)
def expire(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Mark the contract expired if it is still open when its deadline passes."""
    contracts_service.expire_contract(session=session, clock=runtime.clock, contract_id=str(payload["contract_id"]))


@handler(contracts_service.RETENTION_JOB)
def retention_sweep(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Anonymise contracts whose retention period ended, and queue tomorrow's sweep (P13)."""
    from qianshu.contracts import integration

    contracts_service.retention_sweep(session=session, clock=runtime.clock)
    integration.schedule_sweep(session=session, clock=runtime.clock)


@handler("contracts.webhook_deliver")
def webhook_deliver(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Make one attempt at a webhook delivery; a failure schedules the next one with backoff."""
    from qianshu.contracts import webhooks

    webhooks.deliver(runtime=runtime, session=session, delivery_id=str(payload["delivery_id"]))


@handler("contracts.remind")
def remind(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Send the automatic reminders due on a contract and queue its next reminder run."""
    from qianshu.contracts import reminders

    reminders.run_reminders(session=session, clock=runtime.clock, contract_id=str(payload["contract_id"]))


@handler("contracts.bulk_send")
def bulk_send(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Process the next batch of a bulk send's rows (and queue the batch after it)."""
    from qianshu.contracts import bulk

    bulk.process_bulk_send(session=session, clock=runtime.clock, bulk_id=str(payload["bulk_id"]))
