"""Background jobs of the blob store: removing deleted objects, the daily orphan sweep."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.jobs.service import handler
from qianshu.storage import service as storage_service


@handler(storage_service.DELETE_JOB)
def delete_object(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Remove the object of a blob whose row was deleted."""
    storage_service.purge_object(session=session, blob_id=str(payload["blob_id"]))


@handler(storage_service.SWEEP_JOB)
def sweep_orphans(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Sweep orphaned objects and abandoned uploads, then queue the next daily run."""
    storage_service.sweep_orphans(session=session, clock=runtime.clock)
    storage_service.schedule_sweep(session=session, clock=runtime.clock)
