"""JSON API of the consent ledger: policy versions, a person's consents, publishing (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from qianshu.core.auth import Acting, SignedInActing
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.privacy import service as privacy_service
from qianshu.privacy.schemas import (
    AcceptPolicy,
    ConsentChange,
    MyConsents,
    PolicyPublish,
    PolicyRead,
    PolicySummary,
)
from qianshu.privacy.staff import Staff, staff_dependency

router = APIRouter(tags=["privacy"])

PolicyPublisher = Annotated[Staff, Depends(staff_dependency("policy.publish"))]  # least privilege (P10)


# One can always see and withdraw consent: a person's routes use `SignedInActing`, not held back by
# the re-consent gate.
def _my_consents(act: Acting) -> MyConsents:
    return privacy_service.my_consents(session=act.session, user_id=act.user.user_id, locale=act.locale)


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
def accept_policy(body: AcceptPolicy, act: SignedInActing) -> MyConsents:
    """Record that the signed-in user accepts a policy version; return their consent overview."""
    privacy_service.record_policy_acceptance(**act.args(user_id=act.user.user_id, version_id=body.policy_id))
    return _my_consents(act)


@router.get("/api/v1/me/consents", response_model=MyConsents)
def my_consents(act: SignedInActing) -> MyConsents:
    """Return the signed-in user's policy status, consent per purpose and full consent history."""
    return _my_consents(act)


@router.post("/api/v1/me/consents", response_model=MyConsents)
def change_consent(body: ConsentChange, act: SignedInActing) -> MyConsents:
    """Grant or withdraw consent for one purpose (withdrawing works even before re-consent)."""
    privacy_service.change_consent(
        **act.args(user_id=act.user.user_id, purpose=body.purpose, grant=body.action == "grant")
    )
    return _my_consents(act)


@router.post("/api/v1/operator/privacy/policies", response_model=PolicyRead, status_code=201)
def publish_policy(
    body: PolicyPublish, officer: PolicyPublisher, session: DbSession, clock: ClockDep, context: ContextDep
) -> PolicyRead:
    """Publish a new policy version (privacy officers); a major one asks every user to accept it again."""
    return privacy_service.publish_policy(
        session=session,
        clock=clock,
        actor=officer.user_id,
        version=body.version,
        text=body.text,
        major=body.major,
        summary=body.summary,
        context=context,
    )


# The privacy centre and privacy operations (P3-P10, P12-P17) have their own module.
from qianshu.privacy.centre_api import router as _centre_router  # noqa: E402

router.include_router(_centre_router)
