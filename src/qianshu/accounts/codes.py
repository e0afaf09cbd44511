"""One-time codes: 6 digits, stored as a keyed hash, short expiry, few attempts, single use."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from qianshu.accounts.errors import (
    CodeAttemptsExceeded,
    CodeExpired,
    CodeInvalid,
    CodeMalformed,
    CodeResendTooSoon,
)
from qianshu.accounts.keys import otp_pepper
from qianshu.accounts.models import OneTimeCode
from qianshu.core.clock import Clock, as_utc
from qianshu.core.ids import new_id
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import runtime_of

PENDING, USED, SUPERSEDED = "pending", "used", "superseded"
CODES_PER_TARGET = Limit(10, 3600)
CODES_PER_CLIENT = Limit(30, 3600)


@dataclass(frozen=True)
class IssuedCode:
    """A code just made: its id, the digits (to send, never to store), and its expiry."""

    otp_id: str
    code: str
    expires_at: datetime


def _digest(pepper: bytes, otp_id: str, code: str) -> str:
    return hmac.new(pepper, f"otp.v1:{otp_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _latest_pending(session: Session, purpose: str, target_bidx: str) -> OneTimeCode | None:
    return session.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.purpose == purpose,
            OneTimeCode.target_bidx == target_bidx,
            OneTimeCode.status == PENDING,
        )
        .order_by(OneTimeCode.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


def issue_code(
    *,
    session: Session,
    clock: Clock,
    purpose: str,
    channel: str,
    target_bidx: str,
    user_id: str | None,
    client_ip: str | None,
    delivered: bool = True,
) -> IssuedCode:
    """Make a new code for `target_bidx`, replacing older ones; refuse resends that come too fast.

    `delivered=False` is for a code handed back in the answer instead of sent (a face check's
    ticket): nothing goes out, so the resend pause and the sending quotas do not apply.
    """
    runtime = runtime_of(session)
    settings = runtime.settings
    now = clock.now()
    latest = _latest_pending(session, purpose, target_bidx) if delivered else None
    if latest is not None:
        wait = int((as_utc(latest.created_at) + timedelta(seconds=settings.otp_resend_seconds) - now).total_seconds())
        if wait > 0:
            raise CodeResendTooSoon(
                f"验证码已发送，请 {wait} 秒后再重新获取",
                detail_en=f"A code was just sent; you can ask again in {wait} seconds",
                retry_after=wait,
            )
    # Rate limits run in their own transactions: before this one writes anything.
    if delivered:
        enforce(runtime, f"otp:target:{target_bidx}", CODES_PER_TARGET)
        if client_ip:
            enforce(runtime, f"otp:client:{client_ip}", CODES_PER_CLIENT)
    session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.purpose == purpose,
            OneTimeCode.target_bidx == target_bidx,
            OneTimeCode.status == PENDING,
        )
        .values(status=SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    otp_id = new_id("otp")
    code = f"{secrets.randbelow(1_000_000):06d}"
    expires_at = now + timedelta(seconds=settings.otp_ttl_seconds)
    session.add(
        OneTimeCode(
            id=otp_id,
            purpose=purpose,
            channel=channel,
            target_bidx=target_bidx,
            user_id=user_id,
            code_hash=_digest(otp_pepper(runtime), otp_id, code),
            attempts=0,
            status=PENDING,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return IssuedCode(otp_id=otp_id, code=code, expires_at=expires_at)


def verify_code(
    *, session: Session, clock: Clock, purpose: str, target_bidx: str, code: str, user_id: str | None = None
) -> str:
    """Check and consume the newest code for `target_bidx`; return the user id it was issued for.

    Every try is counted in its own committed transaction before the comparison, so a failed
    request that rolls back still uses up an attempt, and parallel guesses cannot exceed the limit.
    Call it before the caller's transaction writes anything (SQLite allows one writer at a time).
    """
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit() or not code.isascii():
        raise CodeMalformed("验证码为 6 位数字", detail_en="The code has six digits")
    runtime = runtime_of(session)
    max_attempts = runtime.settings.otp_max_attempts
    now = clock.now()
    row = _latest_pending(session, purpose, target_bidx)
    if row is None or as_utc(row.expires_at) <= now or (user_id is not None and row.user_id != user_id):
        raise CodeExpired()
    if row.attempts >= max_attempts:
        raise CodeAttemptsExceeded()
    with runtime.transaction() as counter:
        used_attempts = counter.scalar(
            update(OneTimeCode)
            .where(OneTimeCode.id == row.id, OneTimeCode.status == PENDING, OneTimeCode.attempts < max_attempts)
            .values(attempts=OneTimeCode.attempts + 1)
            .returning(OneTimeCode.attempts)
            .execution_options(synchronize_session=False)
        )
    if used_attempts is None:
        raise CodeAttemptsExceeded()
    if not hmac.compare_digest(_digest(otp_pepper(runtime), row.id, code), row.code_hash):
        left = max(0, max_attempts - used_attempts)
        if left == 0:
            raise CodeAttemptsExceeded()
        raise CodeInvalid(
            f"验证码错误，还可尝试 {left} 次", detail_en=f"Wrong code; {left} tries left", attempts_left=left
        )
    consumed = cast(
        CursorResult[Any],
        session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == row.id, OneTimeCode.status == PENDING)
            .values(status=USED, used_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if consumed.rowcount != 1:
        raise CodeExpired()
    return row.user_id or ""
