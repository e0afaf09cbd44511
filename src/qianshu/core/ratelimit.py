"""Fixed-window rate limits: database-backed by default, Redis when configured."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from qianshu.core.clock import Clock
from qianshu.core.errors import RateLimited
from qianshu.core.models import RateLimitHit
from qianshu.core.runtime import Runtime, read_or_create_secret


@dataclass(frozen=True)
class Limit:
    """At most `count` events per `seconds`."""

    count: int
    seconds: int


@runtime_checkable
class RateLimiter(Protocol):
    """Counts events per key and window."""

    def hit(self, key: str, limit: Limit) -> int:
        """Count one event; return 0 if allowed, else seconds until the window ends."""
        ...

    def peek(self, key: str, limit: Limit) -> int:
        """Return seconds until allowed (0 when allowed) without counting."""
        ...

    def reset(self, key: str, limit: Limit) -> None:
        """Forget the current window for `key`."""
        ...


def counter_key(runtime: Runtime, key: str) -> str:
    """Return a keyed hash of a counter key (HMAC-SHA256), so stored keys cannot be reversed.

    Counter keys often hold a client address; an unkeyed hash of an IPv4 address is reversible by
    trying all 2^32 of them.
    """
    secret = runtime.component(
        "core.counter_key", lambda rt: read_or_create_secret(rt.settings.secrets_dir / "counter.key")
    )
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


class DatabaseRateLimiter:
    """Counters in the `rate_limit_hit` table, in their own short transactions."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _window(self, limit: Limit) -> tuple[int, int]:
        now = int(self._runtime.clock.now().timestamp())
        start = now - now % limit.seconds
        return start, start + limit.seconds - now

    def hit(self, key: str, limit: Limit) -> int:
        start, remaining = self._window(limit)
        hk = counter_key(self._runtime, key)
        for _ in range(3):
            try:
                with self._runtime.transaction() as s:
                    row = s.get(RateLimitHit, (hk, start), with_for_update=True)
                    if row is None:
                        expires = datetime.fromtimestamp(start + limit.seconds, tz=self._runtime.clock.now().tzinfo)
                        row = RateLimitHit(key=hk, window_start=start, count=0, expires_at=expires)
                        s.add(row)
                    row.count += 1
                    count = row.count
                    s.execute(delete(RateLimitHit).where(RateLimitHit.expires_at < self._runtime.clock.now()))
                break
            except IntegrityError:
                continue
        else:  # pragma: no cover - three races in a row
            return remaining
        return 0 if count <= limit.count else remaining

    def peek(self, key: str, limit: Limit) -> int:
        start, remaining = self._window(limit)
        with self._runtime.transaction() as s:
            count = s.scalar(
                select(RateLimitHit.count).where(
                    RateLimitHit.key == counter_key(self._runtime, key), RateLimitHit.window_start == start
                )
            )
        return remaining if (count or 0) >= limit.count else 0

    def reset(self, key: str, limit: Limit) -> None:
        with self._runtime.transaction() as s:
            s.execute(delete(RateLimitHit).where(RateLimitHit.key == counter_key(self._runtime, key)))


class RedisRateLimiter:
    """Counters in Redis (`INCR` + `EXPIRE` per window)."""

    def __init__(self, runtime: Runtime, url: str) -> None:
        import redis

        self._runtime = runtime
        # Timeouts: a Redis that stops answering fails the request (503), it does not hang it.
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._prefix = "qs:rl:"

    def _window(self, limit: Limit) -> tuple[str, int]:
        now = int(self._runtime.clock.now().timestamp())
        start = now - now % limit.seconds
        return str(start), start + limit.seconds - now

    def hit(self, key: str, limit: Limit) -> int:
        start, remaining = self._window(limit)
        rkey = f"{self._prefix}{counter_key(self._runtime, key)}:{start}"
        pipe = self._redis.pipeline()
        pipe.incr(rkey)
        pipe.expire(rkey, limit.seconds + 5)
        count = int(pipe.execute()[0])
        return 0 if count <= limit.count else remaining

    def peek(self, key: str, limit: Limit) -> int:
        start, remaining = self._window(limit)
        raw = self._redis.get(f"{self._prefix}{counter_key(self._runtime, key)}:{start}")
        return remaining if raw is not None and int(raw) >= limit.count else 0

    def reset(self, key: str, limit: Limit) -> None:
        start, _ = self._window(limit)
        self._redis.delete(f"{self._prefix}{counter_key(self._runtime, key)}:{start}")


def rate_limiter(runtime: Runtime) -> RateLimiter:
    """Return the configured rate limiter (Redis when `QIANSHU_REDIS_URL` is set)."""

    def build(rt: Runtime) -> RateLimiter:
        if rt.settings.redis_url:
            return RedisRateLimiter(rt, rt.settings.redis_url)
        return DatabaseRateLimiter(rt)

    return runtime.component("rate_limiter", build)


def enforce(runtime: Runtime, key: str, limit: Limit, clock: Clock | None = None) -> None:
    """Count one event for `key`; raise `RateLimited` when over `limit`."""
    retry = rate_limiter(runtime).hit(key, limit)
    if retry:
        raise RateLimited(
            f"操作过于频繁，请在 {retry} 秒后重试",
            detail_en=f"Too many requests; try again in {retry} seconds",
            retry_after=retry,
        )
