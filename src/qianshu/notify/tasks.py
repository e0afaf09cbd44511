"""Background jobs of notify: deliver one message, purge old ones daily."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.jobs.service import handler
from qianshu.notify import service as notify_service


@handler(notify_service.DELIVER_JOB)
def deliver(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Deliver the message named in the payload; a failure raises so the queue retries it."""
    message_id = payload.get("message_id")
    if not isinstance(message_id, str):
        raise ValueError("notify.deliver needs a message_id")
    notify_service.deliver_message(session=session, clock=runtime.clock, message_id=message_id)


@handler(notify_service.PURGE_JOB)
def purge(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Purge messages past their retention period, then queue the next daily run."""
    notify_service.purge_messages(session=session, clock=runtime.clock)
    notify_service.schedule_message_purge(session=session, clock=runtime.clock)
