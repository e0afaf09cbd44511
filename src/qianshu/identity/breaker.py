"""A circuit breaker on the injected clock: stop calling a provider that keeps failing.

Closed: calls go through; `threshold` failures in a row open it. Open: calls are refused at once
(nothing is sent) until `reset_seconds` have passed. Half-open: one trial call goes through; its
success closes the breaker, its failure opens it again for another period. One breaker lives per
process (a runtime component); each app process learns a provider's health on its own.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Literal

from qianshu.core.clock import Clock

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures and refuses calls while open."""

    def __init__(self, *, clock: Clock, threshold: int, reset_seconds: float) -> None:
        self._clock = clock
        self._threshold = max(1, threshold)
        self._reset = timedelta(seconds=reset_seconds)
        self._failures = 0
        self._opened_at: datetime | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        """Return closed, open or half_open as of now."""
        with self._lock:
            return self._state_locked()

    @property
    def open_until(self) -> datetime | None:
        """Return when an open breaker lets a trial call through (None when closed)."""
        with self._lock:
            return None if self._opened_at is None else self._opened_at + self._reset

    def _state_locked(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock.now() - self._opened_at >= self._reset:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Tell whether a call may go out now (a half-open breaker lets one trial through)."""
        with self._lock:
            state = self._state_locked()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial:
                self._trial = True
                return True
            return False

    def record_success(self) -> None:
        """Close the breaker and forget earlier failures."""
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def record_failure(self) -> None:
        """Count a failure; open (or re-open) the breaker when the threshold is reached."""
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self._threshold:
                self._opened_at = self._clock.now()
            self._trial = False
