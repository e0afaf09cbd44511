"""Tables of the consent ledger: policy versions, acceptances, per-purpose consents.

All three are append-only: a published policy never changes, and an acceptance or a consent
decision is never edited or removed (a withdrawal is a new row). The mapper refuses updates and
deletes here; migration 0003 installs database triggers that refuse them too. Network data (IP,
user agent) lives encrypted in the evidence domain's network log; rows here keep only its id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class PrivacyPolicy(Base):
    """One published version of the privacy policy, with its full text."""

    __tablename__ = "privacy_policy"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # publication order
    version: Mapped[str] = mapped_column(String(32), unique=True)
    major: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(64))


class PolicyAcceptance(Base):
    """A person accepted one policy version (who, which, when, from which network log)."""

    __tablename__ = "privacy_policy_acceptance"
    __table_args__ = (
        UniqueConstraint("user_id", "policy_id", name="uq_privacy_policy_acceptance_user_policy"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("privacy_policy.id"))
    accepted_at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    network_log_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ConsentRecord(Base):
    """A person granted or withdrew consent for one purpose; the newest record per purpose counts."""

    __tablename__ = "privacy_consent"
    __table_args__ = (UniqueConstraint("user_id", "seq", name="uq_privacy_consent_user_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # per-person order of decisions
    purpose: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # grant | withdraw
    policy_id: Mapped[str | None] = mapped_column(ForeignKey("privacy_policy.id"), nullable=True)
    recorded_at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    network_log_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


LEDGER_TABLES = ("privacy_policy", "privacy_policy_acceptance", "privacy_consent")


class AppendOnlyError(RuntimeError):
    """Code tried to change or delete a row of the consent ledger."""


def _refuse(_mapper: Any, _connection: Any, target: Any) -> None:
    raise AppendOnlyError(f"{type(target).__tablename__} is append-only")


for _model in (PrivacyPolicy, PolicyAcceptance, ConsentRecord):
    event.listen(_model, "before_update", _refuse)
    event.listen(_model, "before_delete", _refuse)


# Tables of the privacy centre and compliance operations live in their own module (migration 0011).
from qianshu.privacy import centre_models as centre_models  # noqa: E402  # registers the tables
