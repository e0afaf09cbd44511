"""Scheduled jobs that run once per slot across every process.

A scheduled run is an ordinary job whose `dedupe_key` names the schedule and slot
(e.g. `storage.sweep_orphans:2025-01-31`). The key is unique in the `job` table, so however many
app processes and workers try to queue the same slot at once, one row wins; the others get its
id back. The insert is an INSERT … ON CONFLICT DO NOTHING (`jobs.service.enqueue`), so losing the race never aborts
the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.jobs import service as jobs_service

__all__ = ["daily_slot", "schedule_once", "slot_key"]


def slot_key(kind: str, run_at: datetime) -> str:
    """Return the dedupe key of `kind`'s slot at `run_at` (minute precision, UTC)."""
    return f"{kind}:{run_at.strftime('%Y-%m-%dT%H:%M')}"[:120]


def daily_slot(now: datetime, *, hour: int, minute: int = 0) -> datetime:
    """Return the next daily slot at hour:minute UTC strictly after `now`."""
    slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return slot if slot > now else slot + timedelta(days=1)


def schedule_once(
    *,
    session: Session,
    clock: Clock,
    kind: str,
    payload: dict[str, Any],
    run_at: datetime,
    key: str | None = None,
) -> str:
    """Queue `kind` for `run_at` unless that slot is queued already (by any process); return the job id."""
    delay = max(run_at - clock.now(), timedelta(0))
    return jobs_service.enqueue(  # deduplicated by ON CONFLICT DO NOTHING: losing the race is not an error
        session=session,
        clock=clock,
        kind=kind,
        payload=payload,
        delay=delay,
        dedupe_key=key or slot_key(kind, run_at),
    )
