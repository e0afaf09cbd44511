"""Rate limits: database backend always, Redis backend when QIANSHU_TEST_REDIS_URL is set."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import RateLimited
from qianshu.core.ratelimit import DatabaseRateLimiter, Limit, RateLimiter, RedisRateLimiter, enforce
from qianshu.core.runtime import Runtime

REDIS_URL = os.environ.get("QIANSHU_TEST_REDIS_URL")
BACKENDS = ["database"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=BACKENDS)
def limiter(request: pytest.FixtureRequest, runtime: Runtime) -> RateLimiter:
    if request.param == "redis":
        assert REDIS_URL
        return RedisRateLimiter(runtime, REDIS_URL)
    return DatabaseRateLimiter(runtime)


def test_implementations_satisfy_protocol(limiter: RateLimiter) -> None:
    assert isinstance(limiter, RateLimiter)


def test_limit_allows_then_refuses_then_resets_with_window(limiter: RateLimiter, clock: FrozenClock) -> None:
    key = f"login:{uuid.uuid4()}"
    limit = Limit(count=3, seconds=60)
    assert [limiter.hit(key, limit) for _ in range(3)] == [0, 0, 0]
    retry = limiter.hit(key, limit)
    assert 0 < retry <= 60
    assert limiter.peek(key, limit) == retry
    clock.advance(timedelta(seconds=retry))
    assert limiter.hit(key, limit) == 0


def test_reset_forgets_the_window(limiter: RateLimiter) -> None:
    key = f"otp:{uuid.uuid4()}"
    limit = Limit(count=1, seconds=300)
    limiter.hit(key, limit)
    assert limiter.hit(key, limit) > 0
    limiter.reset(key, limit)
    assert limiter.hit(key, limit) == 0


def test_enforce_raises_with_retry_after(runtime: Runtime) -> None:
    limit = Limit(count=1, seconds=60)
    enforce(runtime, "k", limit)
    with pytest.raises(RateLimited) as info:
        enforce(runtime, "k", limit)
    assert info.value.retry_after > 0
    assert info.value.to_problem()["retry_after"] == info.value.retry_after


def test_keys_are_hashed_at_rest(runtime: Runtime) -> None:
    from sqlalchemy import select

    from qianshu.core.models import RateLimitHit

    DatabaseRateLimiter(runtime).hit("ip:203.0.113.9", Limit(5, 60))
    with runtime.transaction() as s:
        keys = list(s.scalars(select(RateLimitHit.key)))
    assert keys and all("203.0.113.9" not in k for k in keys)
