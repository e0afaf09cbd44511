"""Tables owned by core: rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class RateLimitHit(Base):
    """One counter per key and window (keys are hashed: they may contain addresses)."""

    __tablename__ = "rate_limit_hit"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(index=True)
