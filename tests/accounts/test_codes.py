"""One-time codes: 6 digits, hashed, expiring, limited attempts, single use, resend throttle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from qianshu.accounts import codes
from qianshu.accounts.errors import (
    CodeAttemptsExceeded,
    CodeExpired,
    CodeInvalid,
    CodeMalformed,
    CodeResendTooSoon,
)
from qianshu.accounts.models import OneTimeCode
from qianshu.core.clock import FrozenClock
from qianshu.core.errors import RateLimited
from qianshu.core.runtime import Runtime

TARGET = "b" * 64


def _issue(
    runtime: Runtime,
    clock: FrozenClock,
    *,
    purpose: str = "login",
    target: str = TARGET,
    user_id: str | None = "usr_x",
    ip: str | None = "203.0.113.9",
) -> codes.IssuedCode:
    with runtime.transaction() as s:
        return codes.issue_code(
            session=s,
            clock=clock,
            purpose=purpose,
            channel="phone",
            target_bidx=target,
            user_id=user_id,
            client_ip=ip,
        )


def _verify(
    runtime: Runtime,
    clock: FrozenClock,
    code: str,
    *,
    purpose: str = "login",
    target: str = TARGET,
    owner: str | None = None,
) -> str:
    with runtime.transaction() as s:
        return codes.verify_code(
            session=s, clock=clock, purpose=purpose, target_bidx=target, code=code, user_id=owner
        )


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_is_six_digits_and_stored_only_as_a_keyed_hash(runtime: Runtime, clock: FrozenClock) -> None:
    issued = _issue(runtime, clock)
    assert len(issued.code) == 6 and issued.code.isdigit()
    with runtime.transaction() as s:
        row = s.scalar(select(OneTimeCode).where(OneTimeCode.id == issued.otp_id))
        assert row is not None and issued.code not in row.code_hash and len(row.code_hash) == 64
    assert issued.expires_at == clock.now() + timedelta(seconds=runtime.settings.otp_ttl_seconds)


def test_right_code_works_once(runtime: Runtime, clock: FrozenClock) -> None:
    issued = _issue(runtime, clock)
    assert _verify(runtime, clock, issued.code) == "usr_x"
    with pytest.raises(CodeExpired):
        _verify(runtime, clock, issued.code)


def test_code_expires_after_the_ttl(runtime: Runtime, clock: FrozenClock) -> None:
    issued = _issue(runtime, clock)
    clock.advance(timedelta(seconds=runtime.settings.otp_ttl_seconds - 1))
    _issue(runtime, clock, target="c" * 64)  # unrelated
    assert _verify(runtime, clock, issued.code) == "usr_x"
    late = _issue(runtime, clock, target="d" * 64)
    clock.advance(timedelta(seconds=runtime.settings.otp_ttl_seconds))
    with pytest.raises(CodeExpired):
        _verify(runtime, clock, late.code, target="d" * 64)


def test_five_attempts_then_the_code_is_dead(runtime: Runtime, clock: FrozenClock) -> None:
    issued = _issue(runtime, clock)
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeInvalid) as caught:
            _verify(runtime, clock, _wrong(issued.code))
        assert caught.value.extra["attempts_left"] == left
    with pytest.raises(CodeAttemptsExceeded):
        _verify(runtime, clock, _wrong(issued.code))
    with pytest.raises(CodeAttemptsExceeded):  # even the right code is refused now
        _verify(runtime, clock, issued.code)


def test_failed_attempts_persist_although_the_request_rolls_back(
    runtime: Runtime, clock: FrozenClock
) -> None:
    issued = _issue(runtime, clock)
    with pytest.raises(CodeInvalid):
        _verify(runtime, clock, _wrong(issued.code))
    with runtime.transaction() as s:
        row = s.get(OneTimeCode, issued.otp_id)
        assert row is not None and row.attempts == 1 and row.status == "pending"


def test_malformed_code_costs_no_attempt(runtime: Runtime, clock: FrozenClock) -> None:
    issued = _issue(runtime, clock)
    for bad in ("12345", "1234567", "abcdef", "１２３４５６", ""):
        with pytest.raises(CodeMalformed):
            _verify(runtime, clock, bad)
    assert _verify(runtime, clock, issued.code) == "usr_x"


def test_resend_is_throttled_and_a_new_code_replaces_the_old(runtime: Runtime, clock: FrozenClock) -> None:
    first = _issue(runtime, clock)
    with pytest.raises(CodeResendTooSoon) as caught:
        _issue(runtime, clock)
    assert 0 < caught.value.retry_after <= runtime.settings.otp_resend_seconds
    clock.advance(timedelta(seconds=runtime.settings.otp_resend_seconds))
    second = _issue(runtime, clock)
    if first.code != second.code:
        with pytest.raises(CodeInvalid):
            _verify(runtime, clock, first.code)
    assert _verify(runtime, clock, second.code) == "usr_x"


def test_codes_are_bound_to_purpose_and_owner(runtime: Runtime, clock: FrozenClock) -> None:
    issued = _issue(runtime, clock, purpose="change_contact", user_id="usr_owner")
    with pytest.raises(CodeExpired):
        _verify(runtime, clock, issued.code, purpose="login")
    with pytest.raises(CodeExpired):
        _verify(runtime, clock, issued.code, purpose="change_contact", owner="usr_other")
    assert _verify(runtime, clock, issued.code, purpose="change_contact", owner="usr_owner") == "usr_owner"


def test_codes_per_target_are_rate_limited(runtime: Runtime, clock: FrozenClock) -> None:
    for _ in range(codes.CODES_PER_TARGET.count):
        _issue(runtime, clock, ip=None)
        clock.advance(timedelta(seconds=runtime.settings.otp_resend_seconds))
    with pytest.raises(RateLimited):
        _issue(runtime, clock, ip=None)
