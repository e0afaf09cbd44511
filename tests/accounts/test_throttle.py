"""Lockout per account and per client address, with the unlock time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qianshu.accounts import throttle
from qianshu.accounts.errors import AccountLocked
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime

GUARD = throttle.Guard(account="login:abc", client="198.51.100.7")


def _fail(runtime: Runtime, clock: FrozenClock, guard: throttle.Guard = GUARD) -> AccountLocked | None:
    with runtime.transaction() as s:
        return throttle.record_failure(session=s, clock=clock, guard=guard, user_id=None, context=None)


def _check(runtime: Runtime, clock: FrozenClock, guard: throttle.Guard = GUARD) -> None:
    with runtime.transaction() as s:
        throttle.check(session=s, clock=clock, guard=guard)


def test_account_locks_after_max_failures_until_the_lock_ends(runtime: Runtime, clock: FrozenClock) -> None:
    limit = runtime.settings.login_max_failures
    for _ in range(limit - 1):
        assert _fail(runtime, clock) is None
        _check(runtime, clock)
    lock = _fail(runtime, clock)
    assert lock is not None and lock.extra["scope"] == "account"
    assert lock.unlock_at == clock.now() + timedelta(minutes=runtime.settings.login_lock_minutes)
    assert lock.retry_after == runtime.settings.login_lock_minutes * 60
    with pytest.raises(AccountLocked) as caught:
        _check(runtime, clock)
    assert caught.value.unlock_at == lock.unlock_at
    clock.advance(timedelta(minutes=runtime.settings.login_lock_minutes))
    _check(runtime, clock)
    assert _fail(runtime, clock) is None  # the count starts again


def test_failures_spread_beyond_the_window_do_not_lock(runtime: Runtime, clock: FrozenClock) -> None:
    for _ in range(runtime.settings.login_max_failures * 2):
        assert _fail(runtime, clock) is None
        clock.advance(timedelta(minutes=runtime.settings.login_lock_minutes / 2))


def test_clearing_forgets_the_failures(runtime: Runtime, clock: FrozenClock) -> None:
    for _ in range(runtime.settings.login_max_failures - 1):
        _fail(runtime, clock)
    with runtime.transaction() as s:
        throttle.clear(session=s, account="login:abc")
        assert (
            throttle.failures_left(session=s, clock=clock, guard=GUARD) == runtime.settings.login_max_failures
        )
    assert _fail(runtime, clock) is None


def test_client_address_locks_across_accounts(runtime: Runtime, clock: FrozenClock) -> None:
    lock = None
    for i in range(runtime.settings.ip_max_failures_per_hour):
        lock = _fail(runtime, clock, throttle.Guard(account=f"login:{i}", client="198.51.100.7"))
    assert lock is not None and lock.extra["scope"] == "client"
    with pytest.raises(AccountLocked):
        _check(runtime, clock, throttle.Guard(account="login:fresh", client="198.51.100.7"))
    _check(runtime, clock, throttle.Guard(account="login:fresh", client="198.51.100.8"))
