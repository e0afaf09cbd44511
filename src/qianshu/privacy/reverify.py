"""Re-check who is asking before a personal-information request is accepted (P6, 个保法 第50条).

A signed-in session is not enough to delete data or close an account: a one-time code goes to the
account's own phone (or e-mail) through the accounts domain's code mechanism (`accounts.codes`:
hashed, short-lived, few attempts, single use), and the request counts as received only once the
code comes back. Call these before the caller's transaction writes (the code store counts attempts
in its own transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import runtime_of
from qianshu.privacy import notices
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_email, mask_phone

PURPOSE = "privacy_request"


@dataclass(frozen=True)
class CodeSent:
    """Where the code went (masked) and how long it lives."""

    otp_id: str
    channel: Literal["phone", "email"]
    sent_to: str
    expires_in: int


def _target(session: Session, user_id: str) -> tuple[Literal["phone", "email"], str]:
    from qianshu.accounts import service as accounts_service

    contact = accounts_service.get_contact(session=session, user_id=user_id)
    if contact.phone:
        return "phone", contact.phone
    if contact.email:
        return "email", contact.email
    raise InvalidInput(
        "账户没有可接收验证码的手机号或邮箱", detail_en="The account has no phone or e-mail to send a code to"
    )


def send_code(*, session: Session, clock: Clock, user_id: str, context: RequestContext | None) -> CodeSent:
    """Send a one-time code to the account's phone (or e-mail) to confirm a request."""
    from qianshu.accounts import codes

    channel, value = _target(session, user_id)
    bidx = vault_service.blind_index(session=session, kind=channel, value=value)
    issued = codes.issue_code(
        session=session,
        clock=clock,
        purpose=PURPOSE,
        channel=channel,
        target_bidx=bidx,
        user_id=user_id,
        client_ip=context.ip if context is not None else None,
    )
    settings = runtime_of(session).settings
    notices.ensure_templates()
    from qianshu.notify import service as notify_service

    params = {"code": issued.code, "minutes": max(1, settings.otp_ttl_seconds // 60)}
    locale = context.locale if context is not None else "zh-CN"
    if channel == "phone":
        notify_service.send_sms(
            session=session,
            clock=clock,
            subject_id=user_id,
            phone=value,
            template="privacy_otp",
            params=params,
            locale=locale,
        )
        shown = mask_phone(value)
    else:
        notify_service.send_email(
            session=session,
            clock=clock,
            subject_id=user_id,
            email=value,
            template="privacy_otp",
            params=params,
            locale=locale,
        )
        shown = mask_email(value)
    return CodeSent(otp_id=issued.otp_id, channel=channel, sent_to=shown, expires_in=settings.otp_ttl_seconds)


def check_code(*, session: Session, clock: Clock, user_id: str, code: str) -> None:
    """Verify and consume the code sent to the account; raise the accounts code errors otherwise."""
    from qianshu.accounts import codes

    channel, value = _target(session, user_id)
    bidx = vault_service.blind_index(session=session, kind=channel, value=value)
    codes.verify_code(
        session=session, clock=clock, purpose=PURPOSE, target_bidx=bidx, code=code, user_id=user_id
    )
