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
