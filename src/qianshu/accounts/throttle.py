"""Login protection: count failures per account and per client address, lock after too many.

Keys are hashed (they hold addresses and login blind indexes). An unknown login is counted and
locked exactly like a real account, so lockouts reveal nothing about who is registered. Failures
are counted in their own committed transaction, since the request that failed is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qianshu.accounts.errors import AccountLocked
from qianshu.accounts.models import LoginThrottle
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.ratelimit import counter_key
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.db import insert_if_absent


@dataclass(frozen=True)
class Guard:
    """Which counters a login attempt touches: the account's (or unknown login's) and the client's."""

    account: str | None
    client: str | None


def account_key(*, user_id: str | None, login_bidx: str) -> str:
    """Return the throttle identity of a login: the user when one exists, else the login itself."""
    return f"user:{user_id}" if user_id else f"login:{login_bidx}"


def _hash(session: Session, kind: str, ident: str) -> str:
    return counter_key(runtime_of(session), f"throttle:{kind}:{ident}")


def _rules(runtime: Runtime) -> dict[str, tuple[int, timedelta, timedelta]]:
    s = runtime.settings
    lock = timedelta(minutes=s.login_lock_minutes)
    return {
        "account": (s.login_max_failures, lock, lock),
        "client": (s.ip_max_failures_per_hour, timedelta(hours=1), lock),
    }


def _keys(session: Session, guard: Guard) -> list[tuple[str, str]]:
    keys = []
    if guard.account:
        keys.append(("account", _hash(session, "account", guard.account)))
    if guard.client:
        keys.append(("client", _hash(session, "client", guard.client)))
    return keys


def check(*, session: Session, clock: Clock, guard: Guard) -> None:
    """Raise AccountLocked when the account or the client is locked now."""
    now = clock.now()
    for scope, key in _keys(session, guard):
        until = locked_until(session, key, now)
        if until is not None:
            raise AccountLocked(unlock_at=until, now=now, scope=scope)


# --- the counter under one key (also the signing password's, accounts/signing_password.py) ----------


def locked_until(session: Session, key: str, now: datetime) -> datetime | None:
    """Return when the lock on counter `key` ends, or None when it is not locked at `now`."""
    row = session.get(LoginThrottle, key, populate_existing=True)
    if row is not None and row.locked_until is not None and as_utc(row.locked_until) > now:
        return as_utc(row.locked_until)
    return None


def count_failure(
    s: Session, key: str, *, now: datetime, limit: int, window: timedelta, lock_for: timedelta
) -> tuple[int, datetime | None]:
    """Count one failure under `key` (the row locked until `s` ends): return the failures in the window,
    and the end of the lock this failure set (None when it set none).

    A lapsed lock or window starts the count again; the `limit`-th failure locks for `lock_for`.
    """
    insert_if_absent(s, LoginThrottle, {"key": key, "failures": 0, "window_start": now, "locked_until": None})
    row = s.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
    assert row is not None
    expired_lock = row.locked_until is not None and as_utc(row.locked_until) <= now
    if expired_lock or as_utc(row.window_start) + window <= now:
        row.failures, row.window_start, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit and row.locked_until is None:
        row.locked_until = now + lock_for
        return row.failures, row.locked_until
    return row.failures, None


def forget(session: Session, key: str) -> None:
    """Delete the counter `key`."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def record_failure(
    *, session: Session, clock: Clock, guard: Guard, user_id: str | None, context: RequestContext | None
) -> AccountLocked | None:
    """Count one failure (own transaction); return the lock it caused, with its audit event written."""
    runtime = runtime_of(session)
    rules = _rules(runtime)
    now = clock.now()
    caused: AccountLocked | None = None
    with runtime.transaction() as s:
        for scope, key in _keys(session, guard):
            limit, window, lock_for = rules[scope]
            failures, until = count_failure(s, key, now=now, limit=limit, window=window, lock_for=lock_for)
            if until is not None:
                caused = caused or AccountLocked(unlock_at=until, now=now, scope=scope)
                if scope == "account" and user_id:
                    from qianshu.evidence import service as evidence_service

                    evidence_service.record_event(
                        session=s,
                        clock=clock,
                        stream=f"user:{user_id}",
                        actor="system",
                        action="account.locked",
                        object_id=user_id,
                        data={"until": until.isoformat(), "failures": failures},
                        context=context,
                    )
        s.flush()
    return caused


def failures_left(*, session: Session, clock: Clock, guard: Guard) -> int | None:
    """Return how many failures the account may still make before it is locked."""
    if not guard.account:
        return None
    runtime = runtime_of(session)
    limit, window, _lock = _rules(runtime)["account"]
    row = session.get(LoginThrottle, _hash(session, "account", guard.account), populate_existing=True)
    if row is None or as_utc(row.window_start) + window <= clock.now():
        return limit
    return max(0, limit - row.failures)


def clear(*, session: Session, account: str) -> None:
    """Forget the failures of `account` (after a successful login or password reset)."""
    forget(session, _hash(session, "account", account))
