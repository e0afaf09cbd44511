"""Pydantic shapes of the audit trail handed to other domains, the API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    """One audit event as stored, with its chain fields."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    stream: str
    seq: int
    actor: str
    action: str
    object_id: str | None
    data: dict[str, Any]
    request_id: str | None
    network_log_id: str | None
    created_at: datetime
    prev_hash: str
    event_hash: str


class NetworkLogRead(BaseModel):
    """A decrypted network-log record (for evidence reports; never logged)."""

    id: str
    created_at: datetime
    request_id: str | None
    ip: str
    user_agent: str


class ChainBreak(BaseModel):
    """The first broken link of one stream: where it is and what is wrong."""

    stream: str
    seq: int
    event_id: str | None
    problems: list[str]

    def describe(self) -> str:
        """Return a one-line description for the operator."""
        return f"stream={self.stream} seq={self.seq} event={self.event_id or '-'}: " + "; ".join(
            self.problems
        )


class VerifyReport(BaseModel):
    """The outcome of recomputing every chain."""

    streams: int
    events: int
    breaks: list[ChainBreak]

    @property
    def ok(self) -> bool:
        """Tell whether every chain is intact."""
        return not self.breaks
