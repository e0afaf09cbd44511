"""Retention of accounts' housekeeping rows (P13): codes, ended sessions and throttles go on schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts_service
from qianshu.accounts.errors import InvalidCredentials
from qianshu.accounts.models import LoginThrottle, OneTimeCode, UserSession
from qianshu.core.auth import Principal
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.privacy import retention
from tests.accounts.conftest import PASSWORD, PHONE, Outbox

OTHER = "13900001111"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    extra: dict[str, Any] = getattr(request, "param", {})
    return {**settings_overrides, **extra}


def _register(runtime: Runtime, clock: FrozenClock, outbox: Outbox, phone: str, version: str) -> str:
    with runtime.transaction() as s:
        accounts_service.start_registration(session=s, clock=clock, phone=phone)
    with runtime.transaction() as s:
        new = accounts_service.complete_registration(
            session=s,
            clock=clock,
            phone=phone,
            code=outbox.last_code(phone),
            password=PASSWORD,
            accept_policy_version=version,
        )
        return new.read.user.id


def _login_and_logout(runtime: Runtime, clock: FrozenClock, phone: str) -> str:
    with runtime.transaction() as s:
        new = accounts_service.login_with_password(session=s, clock=clock, login=phone, password=PASSWORD)
        user_id, session_id = new.read.user.id, new.read.session.id
    with runtime.transaction() as s:
        principal = Principal(user_id=user_id, session_id=session_id, role="user")
        accounts_service.logout(session=s, clock=clock, principal=principal)
    return session_id


def _fail_login(runtime: Runtime, clock: FrozenClock, login: str) -> None:
    with runtime.transaction() as s, pytest.raises(InvalidCredentials):
        accounts_service.login_with_password(session=s, clock=clock, login=login, password="wrong-Password-1")


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(OneTimeCode)) or 0,
            s.scalar(select(func.count()).select_from(UserSession)) or 0,
            s.scalar(select(func.count()).select_from(LoginThrottle)) or 0,
        )


def _session_ids(runtime: Runtime) -> set[str]:
    with runtime.transaction() as s:
        return set(s.scalars(select(UserSession.id)))


def _sweep(runtime: Runtime, clock: FrozenClock) -> dict[str, int]:
    with runtime.transaction() as s:
        return retention.run_sweep(session=s, clock=clock)


def test_codes_sessions_and_throttles_go_after_their_periods_by_the_daily_job(
    runtime: Runtime,
    clock: FrozenClock,
    outbox: Outbox,
    policy_version: str,
    run_jobs: Callable[[], int],
) -> None:
    start = clock.now()
    user = _register(runtime, clock, outbox, PHONE, policy_version)  # a used code, session 1 (30 days)
    logged_out = _login_and_logout(runtime, clock, PHONE)  # session 2, ended now
    _fail_login(runtime, clock, PHONE)  # throttle rows: the account's
    with runtime.transaction() as s:
        accounts_service.start_sms_login(session=s, clock=clock, phone=PHONE)  # a pending code
    codes, sessions, throttles = _counts(runtime)
    assert codes == 2 and sessions == 2 and throttles >= 1
    run_jobs()  # today's sweep slot has not come: nothing runs early
    assert _counts(runtime) == (codes, sessions, throttles)

    # a day and a half later the daily sweep job has run: only the failure counters are past their time
    clock.advance(timedelta(hours=36))
    assert run_jobs() >= 1
    assert _counts(runtime) == (codes, sessions, 0)

    # a month after the codes expired, they go; the sessions are login records and stay
    clock.set(start + timedelta(days=31))
    run_jobs()
    assert _counts(runtime) == (0, sessions, 0)

    # 184 days after it ended, the logged-out session goes; the other one expired 30 days in, so stays
    clock.set(start + timedelta(days=184) - timedelta(minutes=1))
    run_jobs()
    assert logged_out in _session_ids(runtime)
    clock.set(start + timedelta(days=185))  # a daily slot has passed since the 184 days ran out
    run_jobs()
    left = _session_ids(runtime)
    assert logged_out not in left and len(left) == 1
    clock.set(start + timedelta(days=30 + 184, hours=1))
    result = _sweep(runtime, clock)
    assert result["account_sessions_purged"] == 1 and _counts(runtime) == (0, 0, 0)

    with runtime.transaction() as s:
        events = [e for e in evidence_service.list_events(session=s, stream="system")]
    purged = [e for e in events if e.action == "accounts.records_purged"]
    assert sum(e.data["login_throttles"] for e in purged) == throttles
    assert sum(e.data["one_time_codes"] for e in purged) == codes
    assert sum(e.data["sessions"] for e in purged) == sessions
    assert all(e.data["session_retention_days"] == 184 for e in purged)
    assert any(e.action == "privacy.retention_swept" for e in events)
    assert PHONE not in str([e.data for e in purged]) and user not in str([e.data for e in purged])
    with runtime.transaction() as s:  # the account itself is untouched
        assert accounts_service.get_user(session=s, user_id=user) is not None


@pytest.mark.parametrize("settings_overrides", [{"session_retention_days": 30}], indirect=True)
def test_login_records_are_kept_six_months_even_when_the_setting_is_lower(
    runtime: Runtime, clock: FrozenClock, outbox: Outbox, policy_version: str
) -> None:
    start = clock.now()
    _register(runtime, clock, outbox, PHONE, policy_version)
    ended = _login_and_logout(runtime, clock, PHONE)
    clock.set(start + timedelta(days=100))
    assert _sweep(runtime, clock)["account_sessions_purged"] == 0
    assert ended in _session_ids(runtime)
    clock.set(start + timedelta(days=184, hours=1))
    assert _sweep(runtime, clock)["account_sessions_purged"] == 1
    assert ended not in _session_ids(runtime)
    assert any(p.category == "account_records" and "184" in p.period for p in _policies(runtime))


def _policies(runtime: Runtime) -> list[retention.RetentionPolicy]:
    with runtime.transaction() as s:
        return retention.policies(session=s)


def test_legal_holds_keep_login_records(
    runtime: Runtime, clock: FrozenClock, outbox: Outbox, policy_version: str
) -> None:
    start = clock.now()
    held = _register(runtime, clock, outbox, PHONE, policy_version)
    held_session = _login_and_logout(runtime, clock, PHONE)
    _register(runtime, clock, outbox, OTHER, policy_version)
    other_session = _login_and_logout(runtime, clock, OTHER)
    with runtime.transaction() as s:
        person_hold = retention.place_legal_hold(
            session=s, clock=clock, actor="ops", reference="(2026)沪01民初1号", subject_id=held
        )
        category_hold = retention.place_legal_hold(
            session=s, clock=clock, actor="ops", reference="(2026)沪01民初2号", category="account_records"
        )
    clock.set(start + timedelta(days=300))
    assert _sweep(runtime, clock)["account_sessions_purged"] == 0  # the category is held: nothing goes
    assert {held_session, other_session} <= _session_ids(runtime)
    with runtime.transaction() as s:
        retention.release_legal_hold(session=s, clock=clock, actor="ops", hold_id=category_hold)
    _sweep(runtime, clock)
    left = _session_ids(runtime)
    assert other_session not in left and held_session in left  # the person's hold still stands
    with runtime.transaction() as s:
        retention.release_legal_hold(session=s, clock=clock, actor="ops", hold_id=person_hold)
    _sweep(runtime, clock)
    assert _session_ids(runtime) == set()
