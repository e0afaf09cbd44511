"""Pages of the consent ledger: the policy and its versions, the re-consent gate, consents, publishing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from qianshu.core.auth import PageOperator, PageUser, PolicyConsentRequired, Principal
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import InvalidInput
from qianshu.privacy import service as privacy_service
from qianshu.privacy import staff
from qianshu.privacy.rendering import policy_html
from qianshu.web.links import safe_next
from qianshu.web.render import render

router = APIRouter(include_in_schema=False)


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


@router.get("/privacy", response_class=HTMLResponse)
def policy_page(request: Request, session: DbSession) -> HTMLResponse:
    """Show the policy in force and links to every earlier version."""
    policy = privacy_service.current_policy(session=session)
    versions = privacy_service.list_policies(session=session)
    return render(
        request,
        "privacy/policy.html",
        {"policy": policy, "policy_html": policy_html(policy.text), "versions": versions, "is_current": True},
    )


@router.get("/privacy/versions/{version}", response_class=HTMLResponse)
def policy_version_page(version: str, request: Request, session: DbSession) -> HTMLResponse:
    """Show one published version of the policy."""
    policy = privacy_service.get_policy_or_raise(session=session, version=version)
    versions = privacy_service.list_policies(session=session)
    return render(
        request,
        "privacy/policy.html",
        {
            "policy": policy,
            "policy_html": policy_html(policy.text),
            "versions": versions,
            "is_current": bool(versions) and versions[0].id == policy.id,
        },
    )


@router.get("/privacy/accept", response_class=HTMLResponse, response_model=None)
def accept_page(
    request: Request, user: PageUser, session: DbSession, next: str | None = None
) -> HTMLResponse | RedirectResponse:
    """Show the updated policy with an accept button (the re-consent gate sends people here)."""
    target = safe_next(next)
    if not privacy_service.needs_reconsent(session=session, user_id=user.user_id):
        return RedirectResponse(target, status_code=303)
    policy = privacy_service.current_policy(session=session)
    accepted = privacy_service.list_acceptances(session=session, user_id=user.user_id)
    return render(
        request,
        "privacy/accept.html",
        {
            "policy": policy,
            "policy_html": policy_html(policy.text),
            "next": target,
            "previous": accepted[-1] if accepted else None,
        },
    )


@router.post("/privacy/accept")
def accept_submit(
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    policy_id: Annotated[str, Form(max_length=40)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> RedirectResponse:
    """Record the acceptance and go on to `next` (a local path only)."""
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user.user_id, version_id=policy_id, context=context
    )
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/privacy/consents", response_class=HTMLResponse)
def consents_page(request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show each purpose with its grant/withdraw button, and the full consent history."""
    overview = privacy_service.my_consents(session=session, user_id=user.user_id, locale=_locale(request))
    labels = {state.purpose: state.label for state in overview.purposes}
    return render(request, "privacy/consents.html", {"overview": overview, "labels": labels})


@router.post("/privacy/consents")
def consents_submit(
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    purpose: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form(pattern="^(grant|withdraw)$")],
) -> RedirectResponse:
    """Grant or withdraw one purpose, then show the page again (or the policy, when it waits)."""
    try:
        privacy_service.change_consent(
            session=session,
            clock=clock,
            user_id=user.user_id,
            purpose=purpose,
            grant=action == "grant",
            context=context,
        )
    except PolicyConsentRequired:
        return RedirectResponse("/privacy/accept?next=%2Fprivacy%2Fconsents", status_code=303)
    return RedirectResponse("/privacy/consents?notice=privacy_consent_saved", status_code=303)


@router.get("/operator/privacy", response_class=HTMLResponse)
def operator_page(request: Request, operator: PageOperator, session: DbSession) -> HTMLResponse:
    """Show the published versions (operators) and the form to publish a new one (privacy officers)."""
    return _operator_form(request, session, principal=operator)


def _operator_form(
    request: Request,
    session: DbSession,
    *,
    principal: Principal,
    form: dict[str, object] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    versions = privacy_service.list_policies(session=session)
    may_publish = staff.has_permission(session=session, principal=principal, permission="policy.publish")
    return render(
        request,
        "privacy/operator.html",
        {"versions": versions, "form": form or {"major": True}, "error": error, "may_publish": may_publish},
        status_code=status_code,
    )


PagePolicyPublisher = Annotated[staff.Staff, Depends(staff.staff_dependency("policy.publish", page=True))]


@router.post("/operator/privacy", response_class=HTMLResponse, response_model=None)
def operator_publish(
    request: Request,
    officer: PagePolicyPublisher,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    version: Annotated[str, Form(max_length=32)],
    text: Annotated[str, Form(max_length=privacy_service.MAX_POLICY_CHARS)],
    summary: Annotated[str, Form(max_length=2000)] = "",
    major: Annotated[str | None, Form(max_length=8)] = None,
) -> HTMLResponse | RedirectResponse:
    """Publish a new policy version from the form, or show the form again with the problem."""
    is_major = major is not None
    try:
        privacy_service.publish_policy(
            session=session,
            clock=clock,
            actor=officer.user_id,
            version=version,
            text=text,
            major=is_major,
            summary=summary,
            context=context,
        )
    except (InvalidInput, privacy_service.PolicyVersionExists) as exc:
        locale = _locale(request)
        message = exc.detail_en if locale.startswith("en") else exc.detail
        form = {"version": version, "text": text, "summary": summary, "major": is_major}
        return _operator_form(
            request, session, principal=officer.principal, form=form, error=message, status_code=exc.status
        )
    return RedirectResponse("/operator/privacy?notice=privacy_published", status_code=303)


# Pages of the privacy centre and of privacy operations live in their own modules.
from qianshu.privacy.centre_pages import router as _centre_router  # noqa: E402
from qianshu.privacy.operator_pages import router as _operator_router  # noqa: E402

router.include_router(_centre_router)
router.include_router(_operator_router)
