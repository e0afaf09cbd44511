"""The signing password (签署密码): a second secret, apart from the login password, that a person
sets to confirm the intent to sign (C4) instead of waiting for a one-time code.

It is stored as an argon2id hash (the login password's hasher). Setting, changing or removing it
needs the current login password (checked and counted like a login). Wrong signing passwords are
counted per person in their own committed transaction (the failing request is rolled back); after
`signing_password_max_failures` within the lock period it is locked for
`signing_password_lock_minutes` — a one-time code still confirms intent then. The secret itself
never reaches a log or an audit event.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from qianshu.accounts import throttle
from qianshu.accounts.errors import SigningPasswordLocked, SigningPasswordNotSet, SigningPasswordWrong, WeakPassword
from qianshu.accounts.models import User
from qianshu.accounts.passwords import password_hashing
from qianshu.accounts.rules import common_passwords
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.ratelimit import counter_key
from qianshu.core.runtime import runtime_of

MIN_LENGTH = 6
MAX_LENGTH = 64


def check_rule(password: str, *, login_password: str) -> None:
    """Refuse a signing password that is too short or long, has control characters, is very
    common, or is the login password (`login_password`, which the caller has just checked)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(
            f"签署密码长度须为 {MIN_LENGTH}–{MAX_LENGTH} 个字符",
            detail_en=f"A signing password has {MIN_LENGTH} to {MAX_LENGTH} characters",
            reason="length",
        )
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in password):
        raise WeakPassword("签署密码不能含控制字符", detail_en="No control characters", reason="control")
    if len(set(password)) == 1 or password.casefold() in common_passwords() or password in ("123456", "654321"):
        raise WeakPassword(
            "该签署密码过于简单，请换一个", detail_en="This signing password is too simple", reason="common"
        )
    if password == login_password:
        raise WeakPassword(
            "签署密码不能与登录密码相同",
            detail_en="The signing password must differ from the login password",
            reason="same_as_login",
        )


def _key(session: Session, user_id: str) -> str:
    return counter_key(runtime_of(session), f"throttle:signing_password:{user_id}")


def _lock_for(session: Session) -> tuple[int, timedelta]:
    s = runtime_of(session).settings
    return s.signing_password_max_failures, timedelta(minutes=s.signing_password_lock_minutes)


def check_lock(session: Session, clock: Clock, user_id: str) -> None:
    """Raise SigningPasswordLocked while the person's signing password is locked."""
    now = clock.now()
    until = throttle.locked_until(session, _key(session, user_id), now)
    if until is not None:
        raise SigningPasswordLocked(unlock_at=until, now=now)


def _count_failure(
    session: Session, clock: Clock, user_id: str, context: RequestContext | None
) -> SigningPasswordLocked | None:
    runtime = runtime_of(session)
    limit, lock_for = _lock_for(session)
    key, now = _key(session, user_id), clock.now()
    caused: SigningPasswordLocked | None = None
    with runtime.transaction() as s:
        failures, until = throttle.count_failure(s, key, now=now, limit=limit, window=lock_for, lock_for=lock_for)
        if until is not None:
            caused = SigningPasswordLocked(unlock_at=until, now=now)
        from qianshu.evidence import service as evidence_service

        evidence_service.record_event(
            session=s,
            clock=clock,
            stream=f"user:{user_id}",
            actor=user_id,
            action="account.signing_password_locked" if caused else "account.signing_password_failed",
            object_id=user_id,
            data={"failures": failures, **({"until": until.isoformat()} if until else {})},
            context=context,
        )
        s.flush()
    return caused


def verify(session: Session, clock: Clock, user: User, password: str, context: RequestContext | None) -> None:
    """Check the signing password; count and raise on a wrong one, forget failures on success."""
    check_lock(session, clock, user.id)
    if user.signing_password_hash is None:
        raise SigningPasswordNotSet(
            "您尚未设置签署密码，请在账户安全页面设置，或改用验证码确认",
            detail_en="No signing password is set; set one on the account page or use a one-time code",
        )
    if not password_hashing(runtime_of(session)).verify(user.signing_password_hash, password[: MAX_LENGTH + 1]):
        lock = _count_failure(session, clock, user.id, context)
        if lock is not None:
            raise lock
        raise SigningPasswordWrong("签署密码错误", detail_en="Wrong signing password")
    throttle.forget(session, _key(session, user.id))
