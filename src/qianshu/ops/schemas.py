"""Pydantic shapes of the operations API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class CheckRead(BaseModel):
    """One readiness check."""

    name: str
    ok: bool
    detail: str
    millis: float


class ReadinessRead(BaseModel):
    """The readiness answer: `ready` when every check passed; the checks only for operators."""

    status: str  # ready | unavailable
    checks: list[CheckRead] | None = None


class JobRead(BaseModel):
    """A job as the operator's dead-letter view shows it (no payload: it is internal)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: str
    attempts: int
    run_after: datetime
    last_error: str | None
    request_id: str | None
    created_at: datetime
    finished_at: datetime | None


class JobCountsRead(BaseModel):
    """How many jobs are in each status."""

    counts: dict[str, int]
