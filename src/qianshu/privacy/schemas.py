"""Pydantic shapes of the consent ledger for other domains, the API and the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PolicySummary(BaseModel):
    """A published policy version without its text."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    version: str
    seq: int
    major: bool
    summary: str | None
    published_at: datetime
    text_sha256: str


class PolicyRead(PolicySummary):
    """A published policy version with its full text (Markdown)."""

    text: str


class PolicyPublish(BaseModel):
    """What an operator sends to publish a new policy version."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=32)
    text: str = Field(min_length=1)
    major: bool
    summary: str | None = Field(default=None, max_length=2000)


class AcceptanceRead(BaseModel):
    """One recorded acceptance of a policy version."""

    id: str
    policy_id: str
    version: str
    accepted_at: datetime


class ConsentRead(BaseModel):
    """One ledger entry: a grant or a withdrawal for a purpose."""

    id: str
    purpose: str
    action: Literal["grant", "withdraw"]
    policy_version: str | None
    recorded_at: datetime


class ConsentState(BaseModel):
    """Where a person stands on one purpose now."""

    purpose: str
    label: str
    description: str
    sensitive: bool
    granted: bool
    since: datetime | None


class ConsentChange(BaseModel):
    """A grant or withdrawal asked for through the API."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=64)
    action: Literal["grant", "withdraw"]


class AcceptPolicy(BaseModel):
    """An acceptance sent through the API."""

    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(min_length=1, max_length=40)


class MyConsents(BaseModel):
    """A person's consent overview: policy status, each purpose, and the full history."""

    needs_reconsent: bool
    current_policy: PolicySummary
    accepted: list[AcceptanceRead]
    purposes: list[ConsentState]
    history: list[ConsentRead]
