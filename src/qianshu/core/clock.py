"""Injected time: the only module that reads the wall clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time as aware UTC."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told (tests, demos)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at = at or datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
        if self._at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the frozen time."""
        with self._lock:
            return self._at

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by `delta` and return the new time."""
        with self._lock:
            self._at = self._at + delta
            return self._at

    def set(self, at: datetime) -> None:
        """Jump to `at`."""
        with self._lock:
            self._at = at


def as_utc(value: datetime) -> datetime:
    """Return `value` as aware UTC (SQLite hands back naive datetimes)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_after(clock: Clock, **kwargs: float) -> datetime:
    """Return `clock.now()` plus a timedelta built from kwargs."""
    return clock.now() + timedelta(**kwargs)
