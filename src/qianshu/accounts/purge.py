"""Retention of accounts' housekeeping rows (P13): one-time codes, ended sessions, login throttles.

These rows are only needed for a while: a one-time code (stored as a keyed hash) until it expires
and a short time after for abuse questions; a login-failure counter until its window and lock
pass; a sign-in session (device label and times: a login record) for six months after it ends,
the minimum 网络安全法 第21条 sets for network logs — never less than 184 days, however the
setting is lowered. The privacy retention sweep calls `purge` daily; what went is audited.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from qianshu.accounts.models import LoginThrottle, OneTimeCode, UserSession
from qianshu.core.clock import Clock
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of

log = get_logger("qianshu.accounts")

MIN_LOGIN_RECORD_DAYS = 184  # six months can span 184 days (e.g. 1 July to 31 December)


@dataclass(frozen=True)
class PurgeResult:
    """How many rows of each kind were deleted."""

    one_time_codes: int
    sessions: int
    login_throttles: int

    def as_dict(self) -> dict[str, int]:
        """Return the counts by kind."""
        return asdict(self)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge(*, session: Session, clock: Clock, keep_user_ids: Collection[str] = ()) -> PurgeResult:
    """Delete rows past their retention period, except those of `keep_user_ids` (legal holds)."""
    from qianshu.evidence import service as evidence_service

    s = runtime_of(session).settings
    now = clock.now()
    keep = list(keep_user_ids)

    otp_cutoff = now - timedelta(days=max(s.otp_code_retention_days, 0))
    otp_where = [OneTimeCode.expires_at < otp_cutoff]
    if keep:
        otp_where.append(or_(OneTimeCode.user_id.is_(None), OneTimeCode.user_id.not_in(keep)))
    codes = _count(session.execute(delete(OneTimeCode).where(*otp_where)))

    session_days = max(s.session_retention_days, MIN_LOGIN_RECORD_DAYS)
    session_cutoff = now - timedelta(days=session_days)
    # A session ends when it is revoked or when it expires, whichever comes first.
    ended = or_(
        and_(UserSession.revoked_at.is_not(None), UserSession.revoked_at < session_cutoff),
        UserSession.expires_at < session_cutoff,
    )
    session_where = [ended]
    if keep:
        session_where.append(UserSession.user_id.not_in(keep))
    sessions = _count(session.execute(delete(UserSession).where(*session_where)))

    slack = timedelta(hours=max(s.login_throttle_retention_hours, 0))
    window = max(timedelta(minutes=s.login_lock_minutes), timedelta(hours=1))  # the longer of the two
    throttles = _count(
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.window_start < now - window - slack,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now - slack),
            )
        )
    )
    session.flush()
    result = PurgeResult(one_time_codes=codes, sessions=sessions, login_throttles=throttles)
    if codes or sessions or throttles:
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream="system",
            actor="system",
            action="accounts.records_purged",
            data={
                **result.as_dict(),
                "otp_code_retention_days": s.otp_code_retention_days,
                "session_retention_days": session_days,
                "login_throttle_retention_hours": s.login_throttle_retention_hours,
                "held_subjects": len(keep),
            },
        )
        log.info("accounts_records_purged", **result.as_dict())
    return result
