"""Errors of accounts, each with a stable problem type; details never carry personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from qianshu.core.errors import Conflict, InvalidInput, NotFound, QianshuError, RateLimited, Unauthenticated

_BEIJING = timezone(timedelta(hours=8))


def beijing_time(value: datetime) -> str:
    """Format an aware time as Beijing time, to the minute (China has no daylight saving)."""
    return value.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M")


def utc_time(value: datetime) -> str:
    """Format an aware time as UTC, to the minute."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


class InvalidPhone(InvalidInput):
    """Not a mainland China mobile number."""

    slug = "invalid-phone"
    title = "手机号格式不正确"
    title_en = "Invalid mobile number"


class InvalidEmail(InvalidInput):
    """Not a usable e-mail address."""

    slug = "invalid-email"
    title = "邮箱地址格式不正确"
    title_en = "Invalid e-mail address"


class InvalidLogin(InvalidInput):
    """The login is neither a mobile number nor an e-mail address."""

    slug = "invalid-login"
    title = "请输入手机号或邮箱地址"
    title_en = "Enter a mobile number or an e-mail address"


class WeakPassword(InvalidInput):
    """The password breaks the strength rule; `reason` says which part."""

    slug = "weak-password"
    title = "密码强度不足"
    title_en = "The password is too weak"


class CodeMalformed(InvalidInput):
    """The code is not six digits."""

    slug = "code-malformed"
    title = "验证码为 6 位数字"
    title_en = "The code has six digits"


class CodeInvalid(InvalidInput):
    """The code does not match."""

    slug = "code-invalid"
    title = "验证码错误"
    title_en = "Wrong code"


class CodeExpired(InvalidInput):
    """No usable code: never sent, expired, already used or replaced by a newer one."""

    slug = "code-expired"
    title = "验证码已过期或已失效，请重新获取"
    title_en = "The code has expired or was already used; request a new one"


class CodeAttemptsExceeded(QianshuError):  # named like the core.errors tree
    """Too many wrong tries of one code; a new code is needed."""

    slug = "code-attempts-exceeded"
    status = 429
    title = "验证码错误次数过多，请重新获取"
    title_en = "Too many wrong codes; request a new one"


class CodeResendTooSoon(RateLimited):
    """A code was sent moments ago."""

    slug = "code-resend-too-soon"
    title = "验证码发送过于频繁"
    title_en = "A code was sent moments ago"


class InvalidCredentials(Unauthenticated):
    """Wrong login or password (never says which)."""

    slug = "invalid-credentials"
    title = "账号或密码错误"
    title_en = "Wrong login or password"


class AccountLocked(RateLimited):
    """Too many failures for this account or network; `unlock_at` says until when."""

    slug = "account-locked"
    title = "尝试次数过多，已暂时锁定"
    title_en = "Temporarily locked after too many failures"

    def __init__(self, *, unlock_at: datetime, now: datetime, scope: str, **extra: Any) -> None:
        retry = max(1, int((unlock_at - now).total_seconds() + 0.999))
        who, who_en = ("账户", "This account") if scope == "account" else ("当前网络", "This network")
        super().__init__(
            f"登录失败次数过多，{who}已暂时锁定，请于 {beijing_time(unlock_at)}（北京时间）后再试",
            detail_en=f"{who_en} is locked after too many failures; retry after {utc_time(unlock_at)} UTC",
            retry_after=retry,
            unlock_at=unlock_at.astimezone(UTC).isoformat(),
            scope=scope,
            **extra,
        )
        self.unlock_at = unlock_at


class ContactTaken(Conflict):
    """The phone number or e-mail address already belongs to an account."""

    slug = "contact-taken"
    title = "该手机号或邮箱已注册"
    title_en = "This number or address is already registered"


class PolicyNotAccepted(InvalidInput):
    """Registration without accepting the current privacy policy."""

    slug = "policy-not-accepted"
    title = "请阅读并同意当前版本的隐私政策"
    title_en = "Read and accept the current privacy policy"


class SessionNotFound(NotFound):
    """No such session among the user's devices."""

    slug = "session-not-found"
    title = "未找到该登录设备"
    title_en = "No such session"


class SigningPasswordWrong(InvalidInput):
    """The signing password (签署密码) does not match; the failure is counted toward a lock."""

    slug = "signing-password-wrong"
    title = "签署密码错误"
    title_en = "Wrong signing password"


class SigningPasswordNotSet(InvalidInput):
    """The person has no signing password; set one on the account page or use a one-time code."""

    slug = "signing-password-not-set"
    title = "您尚未设置签署密码"
    title_en = "No signing password is set"


class SigningPasswordLocked(RateLimited):
    """Too many wrong signing passwords; `unlock_at` says until when (a one-time code still works)."""

    slug = "signing-password-locked"
    title = "签署密码错误次数过多，已暂时锁定"
    title_en = "Signing password locked after too many failures"

    def __init__(self, *, unlock_at: datetime, now: datetime) -> None:
        super().__init__(
            f"签署密码错误次数过多，已暂时锁定，请于 {beijing_time(unlock_at)}（北京时间）后再试，或改用验证码确认",
            detail_en=f"Too many wrong signing passwords; retry after {utc_time(unlock_at)} UTC or use a one-time code",
            retry_after=max(1, int((unlock_at - now).total_seconds() + 0.999)),
            unlock_at=unlock_at.astimezone(UTC).isoformat(),
        )
        self.unlock_at = unlock_at
