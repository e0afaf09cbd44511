"""JSON API of the consent ledger: policy versions, a person's consents, publishing (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from qianshu.core.auth import OperatorUser, Principal, get_optional_user
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import Unauthenticated
from qianshu.privacy import service as privacy_service
from qianshu.privacy.schemas import (
    AcceptPolicy,
    ConsentChange,
    MyConsents,
    PolicyPublish,
    PolicyRead,
    PolicySummary,
)

router = APIRouter(tags=["privacy"])


def _signed_in(principal: Annotated[Principal | None, Depends(get_optional_user)]) -> Principal:
    """Require a signed-in user but not the re-consent gate: one can always see and withdraw consent."""
    if principal is None:
        raise Unauthenticated("请先登录", detail_en="Sign in first")
    return principal


SignedIn = Annotated[Principal, Depends(_signed_in)]


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


@router.get("/api/v1/privacy/policies", response_model=list[PolicySummary])
def list_policies(session: DbSession) -> list[PolicySummary]:
    """List every published policy version, newest first."""
    return privacy_service.list_policies(session=session)


@router.get("/api/v1/privacy/policies/current", response_model=PolicyRead)
def current_policy(session: DbSession) -> PolicyRead:
    """Return the policy in force, with its text."""
    return privacy_service.current_policy(session=session)


@router.get("/api/v1/privacy/policies/{version}", response_model=PolicyRead)
def get_policy(version: str, session: DbSession) -> PolicyRead:
    """Return one published policy version, with its text."""
    return privacy_service.get_policy_or_raise(session=session, version=version)


@router.post("/api/v1/privacy/acceptances", response_model=MyConsents)
def accept_policy(
    body: AcceptPolicy,
    request: Request,
    user: SignedIn,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> MyConsents:
    """Record that the signed-in user accepts a policy version; return their consent overview."""
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user.user_id, version_id=body.policy_id, context=context
    )
    return privacy_service.my_consents(session=session, user_id=user.user_id, locale=_locale(request))


@router.get("/api/v1/me/consents", response_model=MyConsents)
def my_consents(request: Request, user: SignedIn, session: DbSession) -> MyConsents:
    """Return the signed-in user's policy status, consent per purpose and full consent history."""
    return privacy_service.my_consents(session=session, user_id=user.user_id, locale=_locale(request))


@router.post("/api/v1/me/consents", response_model=MyConsents)
def change_consent(
    body: ConsentChange,
    request: Request,
    user: SignedIn,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> MyConsents:
    """Grant or withdraw consent for one purpose (withdrawing works even before re-consent)."""
    privacy_service.change_consent(
        session=session,
        clock=clock,
        user_id=user.user_id,
        purpose=body.purpose,
        grant=body.action == "grant",
        context=context,
    )
    return privacy_service.my_consents(session=session, user_id=user.user_id, locale=_locale(request))


@router.post("/api/v1/operator/privacy/policies", response_model=PolicyRead, status_code=201)
def publish_policy(
    body: PolicyPublish, operator: OperatorUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> PolicyRead:
    """Publish a new policy version (operators); a major one asks every user to accept it again."""
    return privacy_service.publish_policy(
        session=session,
        clock=clock,
        actor=operator.user_id,
        version=body.version,
        text=body.text,
        major=body.major,
        summary=body.summary,
        context=context,
    )


# The privacy centre and privacy operations (P3-P10, P12-P17) have their own module.
from qianshu.privacy.centre_api import router as _centre_router  # noqa: E402

router.include_router(_centre_router)
