"""What must hold before sensitive data is collected: separate consent (P2) and the age gate (A8).

Age gate, from the birth date on the document and the injected clock (Beijing calendar date):
- younger than `QIANSHU_MIN_AGE` (default 18), or younger than 14 whatever that setting says
  (个人信息保护法 第28条, 第31条: a child's data is sensitive and needs the guardian's consent):
  refused, unless the operator turned on `QIANSHU_GUARDIAN_PATH`;
- with the guardian path on, such a person may go on only when a verified adult confirmed, from
  their own session, a guardian request bound to this person's ID number (identity.guardian).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from qianshu.config import Settings
from qianshu.identity import levels
from qianshu.identity.errors import AgeRestricted, ConsentRequired, GuardianConsentRequired
from qianshu.privacy import service as privacy_service

CHILD_AGE = 14  # 个人信息保护法 第28条: under 14 is a minor whose data is sensitive


def missing_consents(session: Session, *, user_id: str, level: str) -> list[str]:
    """Return the consent purposes `level` needs that the person has not granted (or withdrew)."""
    return [
        purpose
        for purpose in levels.purposes_for(level)
        if not privacy_service.has_consent(session=session, user_id=user_id, purpose=purpose)
    ]


def require_consents(session: Session, *, user_id: str, level: str) -> None:
    """Raise ConsentRequired (403) unless every purpose of `level` has the person's consent."""
    missing = missing_consents(session, user_id=user_id, level=level)
    if missing:
        raise ConsentRequired(missing)


@dataclass(frozen=True)
class AgeDecision:
    """The age gate's answer: ok, needs a guardian, or refused; and the age it used."""

    outcome: str  # ok | guardian | refused
    age: int


def decide_age(*, settings: Settings, age: int) -> AgeDecision:
    """Apply the age settings to a computed age."""
    if age >= settings.min_age and age >= CHILD_AGE:
        return AgeDecision("ok", age)
    return AgeDecision("guardian" if settings.guardian_path else "refused", age)


def refuse_or_ask_guardian(
    *, settings: Settings, decision: AgeDecision, guardian_consent_id: str | None
) -> None:
    """Raise AgeRestricted or GuardianConsentRequired unless the decision lets the person go on."""
    if decision.outcome == "ok":
        return
    if decision.outcome == "refused":
        if decision.age < settings.min_age:
            raise AgeRestricted(
                f"根据平台规则，本服务仅向年满 {settings.min_age} 周岁的用户提供，您暂时无法完成实名认证。",
                detail_en=f"This service is for people aged {settings.min_age} or over; you cannot verify.",
                min_age=settings.min_age,
            )
        raise AgeRestricted(
            f"未满 {CHILD_AGE} 周岁的用户需要监护人同意，本平台暂未开通监护人同意途径。",
            detail_en=f"People under {CHILD_AGE} need a guardian's consent; this platform does not offer it.",
            min_age=settings.min_age,
        )
    if guardian_consent_id is None:
        raise GuardianConsentRequired(
            "您未达到独立使用本服务的年龄，需要已完成实名认证的监护人同意。请在“实名认证”页生成监护人确认码，"
            "交给您的父母或其他监护人，由其登录本人账号确认后再提交。",
            detail_en="You need a verified guardian's consent first: create a guardian code on the identity "
            "page and give it to your parent or guardian, who confirms it from their own account.",
            guardian_url="/identity#guardian",
        )
