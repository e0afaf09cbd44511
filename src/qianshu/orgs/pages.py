"""HTML pages of organisations: my organisations, the application wizard, members and seals, review.

Plain POST forms with the CSRF field; success answers 303 (post/redirect/get) to a page showing
a notice; a failure rolls back what the attempt wrote and renders the same page again with a
readable message and the error's status code. The sandbox bank's pages ride along on this router.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from qianshu.core.auth import PageOperator, PageUser, Principal
from qianshu.core.clock import Clock
from qianshu.core.deps import ClockDep, ContextDep, DbSession, RequestContext, SettingsDep
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.orgs import persons, sandbox
from qianshu.orgs import service as orgs_service
from qianshu.orgs.roles import LABELS, Permission, Role, allows
from qianshu.orgs.schemas import (
    DepositConfirm,
    DepositStart,
    GrantCreate,
    InvitationCreate,
    LegalRepIn,
    OrgCreate,
    RevealIn,
    ReviewDecision,
    SealGenerate,
)
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)
router.include_router(sandbox.router)

FormStr = Annotated[str, Form(max_length=1024)]
OptFormStr = Annotated[str, Form(max_length=1024)]
Upload = Annotated[UploadFile, File()]


# --- helpers --------------------------------------------------------------------------------


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


def _redirect(path: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?{urlencode({'notice': notice})}" if notice else ""), status_code=303)


def _error_context(request: Request, session: Session, error: QianshuError | None) -> tuple[dict[str, Any], int]:
    if error is None:
        return {}, 200
    session.rollback()
    problem = error.to_problem(locale=_locale(request))
    return {"notices": [Notice("error", str(problem["detail"]))], "error_slug": error.slug}, error.status


def _attempt(
    session: Session, action: Callable[[], Response], on_error: Callable[[QianshuError], HTMLResponse]
) -> Response:
    try:
        return action()
    except QianshuError as exc:
        session.rollback()
        return on_error(exc)


@dataclass(frozen=True)
class Acting:
    """A signed-in member acting on an organisation page: the request and what every service call takes."""

    request: Request
    user: Principal
    session: Session
    clock: Clock
    context: RequestContext

    def on(self, org_id: str) -> dict[str, Any]:
        """Return the keyword arguments every orgs service action takes for `org_id`."""
        return {
            "session": self.session,
            "clock": self.clock,
            "actor_id": self.user.user_id,
            "org_id": org_id,
            "context": self.context,
        }


def _acting(request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep) -> Acting:
    return Acting(request=request, user=user, session=session, clock=clock, context=context)


ActingDep = Annotated[Acting, Depends(_acting)]


def _is_verified(session: Session, user_id: str) -> bool:
    return persons.is_verified(session=session, user_id=user_id)


def _role_labels(locale: str) -> dict[str, str]:
    return {role.value: (en if locale.startswith("en") else zh) for role, (zh, en) in LABELS.items()}


def _read_upload(file: UploadFile, limit: int) -> bytes:
    return file.file.read(limit + 1)


def _end_of_day(value: str) -> datetime | None:
    """Return the end of a `YYYY-MM-DD` day (UTC), or None for an empty field."""
    value = value.strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", detail_en="Dates are written YYYY-MM-DD") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


# --- my organisations -----------------------------------------------------------------------


def _list_page(
    request: Request, session: Session, clock: ClockDep, user: Principal, error: QianshuError | None = None
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    orgs = orgs_service.list_my_orgs(session=session, user_id=user.user_id)
    invitations = orgs_service.my_invitations(session=session, clock=clock, user_id=user.user_id)
    context = {"orgs": orgs, "invitations": invitations, "roles": _role_labels(_locale(request)), **extra}
    return render(request, "orgs/list.html", context, status_code=status)


@router.get("/orgs", response_class=HTMLResponse)
def my_orgs(request: Request, user: PageUser, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """List my organisations and the invitations waiting for me."""
    return _list_page(request, session, clock, user)


@router.post("/orgs/invitations/{invitation_id}/accept", response_model=None)
def accept_invitation(
    invitation_id: str,
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> Response:
    """Accept an invitation and open the organisation."""

    def act() -> Response:
        member = orgs_service.accept_invitation(
            session=session,
            clock=clock,
            user_id=user.user_id,
            invitation_id=invitation_id[:40],
            context=context,
        )
        return _redirect(f"/orgs/{member.org_id}", "orgs_joined")

    return _attempt(session, act, lambda exc: _list_page(request, session, clock, user, exc))


# --- application wizard ---------------------------------------------------------------------


def _new_page(
    request: Request,
    session: Session,
    values: dict[str, str] | None = None,
    error: QianshuError | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    field_errors: dict[str, str] = {}
    if error is not None and error.slug == "invalid-uscc":
        field_errors["uscc"] = str(error.to_problem(locale=_locale(request))["detail"])
    return render(
        request,
        "orgs/new.html",
        {"values": values or {}, "field_errors": field_errors, **extra},
        status_code=status,
    )


@router.get("/orgs/new", response_class=HTMLResponse)
def new_org(request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Start an enterprise application: name and unified social credit code."""
    return _new_page(request, session)


@router.post("/orgs/new", response_model=None)
def new_org_submit(
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    name: FormStr = "",
    uscc: FormStr = "",
) -> Response:
    """Create the application and continue with its steps."""

    def act() -> Response:
        data = OrgCreate.model_construct(name=name, uscc=uscc)
        org = orgs_service.create_org(session=session, clock=clock, actor_id=user.user_id, data=data, context=context)
        return _redirect(f"/orgs/{org.id}/apply", "orgs_created")

    return _attempt(session, act, lambda exc: _new_page(request, session, {"name": name, "uscc": uscc}, exc))


def _apply_page(
    request: Request,
    session: Session,
    user: Principal,
    org_id: str,
    *,
    error: QianshuError | None = None,
    values: dict[str, str] | None = None,
    revealed_step: str | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    org = orgs_service.get_org(session=session, org_id=org_id, user_id=user.user_id)
    can_verify = allows(org.role, Permission.VERIFY)
    context: dict[str, Any] = {
        "org": org,
        "can_verify": can_verify,
        "deposit": orgs_service.get_deposit(session=session, org_id=org.id, user_id=user.user_id)
        if can_verify
        else None,
        "documents": orgs_service.list_documents(session=session, org_id=org.id, user_id=user.user_id)
        if can_verify
        else [],
        "person_verified": _is_verified(session, user.user_id),
        "values": values or {},
        "failed_step": revealed_step,
        **extra,
    }
    return render(request, "orgs/apply.html", context, status_code=status)


@router.get("/orgs/{org_id}/apply", response_class=HTMLResponse)
def apply_page(org_id: str, request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show the verification steps of an application, with a form for each open step."""
    return _apply_page(request, session, user, org_id[:40])


def _step(
    act: Acting, org_id: str, step: str, call: Callable[..., object], notice: str, values: dict[str, str] | None = None
) -> Response:
    """Run `call(**act.on(org_id))`; redirect to the wizard with `notice`, or re-render `step` with the error."""

    def run() -> Response:
        call(**act.on(org_id))
        return _redirect(f"/orgs/{org_id}/apply", notice)

    return _attempt(
        act.session,
        run,
        lambda exc: _apply_page(
            act.request, act.session, act.user, org_id, error=exc, values=values, revealed_step=step
        ),
    )


@router.post("/orgs/{org_id}/apply/licence", response_model=None)
def apply_licence(org_id: str, file: Upload, act: ActingDep, settings: SettingsDep) -> Response:
    """Upload the business licence."""
    data = _read_upload(file, settings.org_document_max_bytes)
    return _step(act, org_id[:40], "licence", partial(orgs_service.upload_licence, data=data), "orgs_licence_uploaded")


@router.post("/orgs/{org_id}/apply/legal-rep", response_model=None)
def apply_legal_rep(
    org_id: str, act: ActingDep, name: FormStr = "", id_number: FormStr = "", authorised: OptFormStr = ""
) -> Response:
    """Submit the legal representative."""
    data = LegalRepIn.model_construct(name=name, id_number=id_number, authorised=authorised == "yes")
    call = partial(orgs_service.submit_legal_rep, data=data)
    return _step(act, org_id[:40], "legal_rep", call, "orgs_legal_rep_verified", values={"legal_rep_name": name})


@router.post("/orgs/{org_id}/apply/letter", response_model=None)
def apply_letter(org_id: str, file: Upload, act: ActingDep, settings: SettingsDep) -> Response:
    """Upload the authorisation letter naming me as agent."""
    call = partial(orgs_service.upload_authorisation_letter, data=_read_upload(file, settings.org_document_max_bytes))
    return _step(act, org_id[:40], "agent", call, "orgs_letter_uploaded")


@router.post("/orgs/{org_id}/apply/confirmation", response_model=None)
def apply_confirmation(org_id: str, act: ActingDep, phone: FormStr = "") -> Response:
    """Ask the legal representative by SMS to confirm me as agent."""
    call = partial(orgs_service.request_legal_rep_confirmation, phone=phone)
    return _step(act, org_id[:40], "agent", call, "orgs_confirmation_sent", values={"phone": phone})


@router.post("/orgs/{org_id}/apply/deposit", response_model=None)
def apply_deposit(org_id: str, act: ActingDep, bank_name: FormStr = "", account_number: FormStr = "") -> Response:
    """Start the micro-deposit check of the corporate account."""
    data = DepositStart.model_construct(bank_name=bank_name, account_number=account_number)
    call = partial(orgs_service.start_micro_deposit, data=data)
    return _step(act, org_id[:40], "bank", call, "orgs_deposit_sent", values={"bank_name": bank_name})


@router.post("/orgs/{org_id}/apply/deposit/confirm", response_model=None)
def apply_deposit_confirm(org_id: str, act: ActingDep, amount: FormStr = "") -> Response:
    """Confirm the amount that arrived."""
    call = partial(orgs_service.confirm_micro_deposit, data=DepositConfirm.model_construct(amount=amount))
    return _step(act, org_id[:40], "bank", call, "orgs_bank_verified")


# --- the legal representative's confirmation ------------------------------------------------


def _confirm_page(
    request: Request, session: Session, clock: ClockDep, token: str, error: QianshuError | None = None
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    view = orgs_service.view_confirmation(session=session, clock=clock, token=token)
    return render(request, "orgs/confirm.html", {"view": view, "token": token, **extra}, status_code=status)


@router.get("/orgs/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, user: PageUser, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """Show the legal representative what they are asked to confirm."""
    return _confirm_page(request, session, clock, token[:128])


@router.post("/orgs/confirm/{token}", response_model=None)
def confirm_submit(
    token: str, request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Confirm the agent as the legal representative."""
    token = token[:128]

    def act() -> Response:
        orgs_service.confirm_agent_as_legal_rep(
            session=session, clock=clock, user_id=user.user_id, token=token, context=context
        )
        return _redirect(f"/orgs/confirm/{token}", "orgs_agent_confirmed")

    return _attempt(session, act, lambda exc: _confirm_page(request, session, clock, token, exc))


# --- an organisation: members and seals -----------------------------------------------------


def _detail_page(
    request: Request,
    session: Session,
    clock: ClockDep,
    user: Principal,
    org_id: str,
    error: QianshuError | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    org = orgs_service.get_org(session=session, org_id=org_id, user_id=user.user_id)
    seals = orgs_service.list_seals(session=session, org_id=org.id, user_id=user.user_id)
    manages_members = allows(org.role, Permission.MANAGE_MEMBERS)
    context: dict[str, Any] = {
        "org": org,
        "members": orgs_service.list_members(session=session, org_id=org.id, user_id=user.user_id),
        "invitations": orgs_service.list_invitations(session=session, clock=clock, org_id=org.id, user_id=user.user_id)
        if manages_members
        else [],
        "seals": seals,
        "grants": {
            s.id: orgs_service.list_grants(
                session=session, clock=clock, org_id=org.id, user_id=user.user_id, seal_id=s.id
            )
            for s in seals
        },
        "manages_members": manages_members,
        "manages_seals": allows(org.role, Permission.MANAGE_SEALS),
        "is_owner": org.role == Role.OWNER.value,
        "roles": _role_labels(_locale(request)),
        "me": user.user_id,
        **extra,
    }
    return render(request, "orgs/detail.html", context, status_code=status)


@router.get("/orgs/{org_id}", response_class=HTMLResponse)
def org_page(org_id: str, request: Request, user: PageUser, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """Show an organisation: verification status, members, invitations and seals."""
    return _detail_page(request, session, clock, user, org_id[:40])


def _on_detail(
    act: Acting, org_id: str, call: Callable[..., object], notice: str, done: Callable[[], str] | None = None
) -> Response:
    """Run `call(**act.on(org_id))`; redirect (to `done()` or the organisation) or re-render it with the error."""

    def run() -> Response:
        call(**act.on(org_id))
        return _redirect(done() if done else f"/orgs/{org_id}", notice)

    return _attempt(
        act.session, run, lambda exc: _detail_page(act.request, act.session, act.clock, act.user, org_id, exc)
    )


def _role(role: str) -> str:
    if role not in {r.value for r in Role}:
        raise InvalidInput("请选择角色", detail_en="Choose a role")
    return role


def _invitation(contact: str, role: str) -> InvitationCreate:
    value = contact.strip()
    _role(role)
    if not value:
        raise InvalidInput("请输入手机号或邮箱地址", detail_en="Enter a mobile number or an e-mail address")
    return InvitationCreate.model_construct(
        phone=None if "@" in value else value, email=value if "@" in value else None, role=role
    )


@router.post("/orgs/{org_id}/invitations", response_model=None)
def invite(org_id: str, act: ActingDep, contact: FormStr = "", role: FormStr = "member") -> Response:
    """Invite a phone number or e-mail address."""

    def call(**common: Any) -> object:
        return orgs_service.invite_member(data=_invitation(contact, role), **common)

    return _on_detail(act, org_id[:40], call, "orgs_invited")


@router.post("/orgs/{org_id}/invitations/{invitation_id}/revoke", response_model=None)
def revoke_invitation(org_id: str, invitation_id: str, act: ActingDep) -> Response:
    """Withdraw an invitation."""
    call = partial(orgs_service.revoke_invitation, invitation_id=invitation_id[:40])
    return _on_detail(act, org_id[:40], call, "orgs_invitation_revoked")


@router.post("/orgs/{org_id}/members/{member_id}/role", response_model=None)
def change_role(org_id: str, member_id: str, act: ActingDep, role: FormStr = "") -> Response:
    """Change a member's role."""

    def call(**common: Any) -> object:
        return orgs_service.change_role(user_id=member_id[:40], role=_role(role), **common)

    return _on_detail(act, org_id[:40], call, "orgs_role_changed")


@router.post("/orgs/{org_id}/members/{member_id}/remove", response_model=None)
def remove_member(org_id: str, member_id: str, act: ActingDep) -> Response:
    """Remove a member (or leave the organisation)."""
    org_id = org_id[:40]
    leaving = member_id == act.user.user_id
    return _on_detail(
        act,
        org_id,
        partial(orgs_service.remove_member, user_id=member_id[:40]),
        "orgs_left" if leaving else "orgs_member_removed",
        done=lambda: "/orgs" if leaving else f"/orgs/{org_id}",
    )


@router.post("/orgs/{org_id}/seals/generate", response_model=None)
def generate_seal(
    org_id: str, act: ActingDep, name: FormStr = "", footer: FormStr = "", requires_approval: OptFormStr = ""
) -> Response:
    """Draw a seal from the organisation's name."""
    data = SealGenerate.model_construct(
        name=name or "合同专用章", footer=footer or None, requires_approval=requires_approval == "yes"
    )
    return _on_detail(act, org_id[:40], partial(orgs_service.create_generated_seal, data=data), "orgs_seal_created")


@router.post("/orgs/{org_id}/seals/upload", response_model=None)
def upload_seal(
    org_id: str,
    file: Upload,
    act: ActingDep,
    settings: SettingsDep,
    name: FormStr = "",
    requires_approval: OptFormStr = "",
) -> Response:
    """Upload a transparent PNG seal."""
    call = partial(
        orgs_service.upload_seal,
        name=name,
        data=_read_upload(file, settings.seal_upload_max_bytes),
        requires_approval=requires_approval == "yes",
    )
    return _on_detail(act, org_id[:40], call, "orgs_seal_created")


@router.get("/orgs/{org_id}/seals/{seal_id}/image.png", response_class=Response)
def seal_image(org_id: str, seal_id: str, user: PageUser, session: DbSession) -> Response:
    """Return the seal's PNG to a member."""
    png = orgs_service.get_seal_image(session=session, org_id=org_id[:40], user_id=user.user_id, seal_id=seal_id[:40])
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.post("/orgs/{org_id}/seals/{seal_id}/approval", response_model=None)
def seal_approval(org_id: str, seal_id: str, act: ActingDep, requires_approval: OptFormStr = "") -> Response:
    """Turn use approval of a seal on or off."""
    call = partial(orgs_service.set_seal_approval, seal_id=seal_id[:40], requires_approval=requires_approval == "yes")
    return _on_detail(act, org_id[:40], call, "orgs_seal_updated")


@router.post("/orgs/{org_id}/seals/{seal_id}/grants", response_model=None)
def grant_seal(org_id: str, seal_id: str, act: ActingDep, member: FormStr = "", until: OptFormStr = "") -> Response:
    """Let a member use a seal, optionally until a day."""

    def call(**common: Any) -> object:
        data = GrantCreate.model_construct(user_id=member[:40], expires_at=_end_of_day(until))
        return orgs_service.grant_seal(seal_id=seal_id[:40], data=data, **common)

    return _on_detail(act, org_id[:40], call, "orgs_seal_granted")


@router.post("/orgs/{org_id}/seals/{seal_id}/grants/{grant_id}/revoke", response_model=None)
def revoke_grant(org_id: str, seal_id: str, grant_id: str, act: ActingDep) -> Response:
    """End a member's permission to use a seal."""
    call = partial(orgs_service.revoke_grant, seal_id=seal_id[:40], grant_id=grant_id[:40])
    return _on_detail(act, org_id[:40], call, "orgs_grant_revoked")


# --- operators ------------------------------------------------------------------------------


@router.get("/operator/orgs", response_class=HTMLResponse)
def review_queue(request: Request, operator: PageOperator, session: DbSession) -> HTMLResponse:
    """List licences and authorisation letters waiting for review (masked)."""
    return render(request, "orgs/operator_queue.html", {"items": orgs_service.list_review_queue(session=session)})


def _review_page(
    request: Request,
    session: Session,
    document_id: str,
    *,
    revealed: Any = None,
    error: QianshuError | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    item = next((i for i in orgs_service.list_review_queue(session=session) if i.document_id == document_id), None)
    if item is None:
        from qianshu.core.errors import NotFound

        raise NotFound("该材料不在待审核队列中", detail_en="The document is not waiting for review")
    return render(
        request,
        "orgs/operator_review.html",
        {"item": item, "revealed": revealed, **extra},
        status_code=status,
    )


@router.get("/operator/orgs/{document_id}", response_class=HTMLResponse)
def review_page(document_id: str, request: Request, operator: PageOperator, session: DbSession) -> HTMLResponse:
    """Show one document waiting for review, masked until revealed."""
    return _review_page(request, session, document_id[:40])


@router.post("/operator/orgs/{document_id}/reveal", response_class=HTMLResponse)
def review_reveal(
    document_id: str,
    request: Request,
    operator: PageOperator,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    reason: FormStr = "",
    note: OptFormStr = "",
) -> HTMLResponse:
    """Open the document with a stated reason (logged), then show it."""
    document_id = document_id[:40]
    try:
        if reason not in ("review", "complaint", "legal_request", "incident"):
            raise InvalidInput("请选择查看原因", detail_en="Choose a reason")
        body = RevealIn.model_construct(reason=reason, note=note.strip()[:200] or None)
        revealed = orgs_service.reveal_document(
            session=session,
            clock=clock,
            operator_id=operator.user_id,
            document_id=document_id,
            reason=body.reason,
            note=body.note,
            context=context,
        )
    except QianshuError as exc:
        return _review_page(request, session, document_id, error=exc)
    data_url = f"data:{revealed.content_type};base64,{revealed.image_base64}"
    return _review_page(request, session, document_id, revealed={"read": revealed, "data_url": data_url})


@router.post("/operator/orgs/{document_id}/decision", response_model=None)
def review_decision(
    document_id: str,
    request: Request,
    operator: PageOperator,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    decision: FormStr = "",
    reason: OptFormStr = "",
) -> Response:
    """Approve or reject the document."""
    document_id = document_id[:40]

    def act() -> Response:
        if decision not in ("approve", "reject"):
            raise InvalidInput("请选择审核结论", detail_en="Choose a decision")
        try:
            body = ReviewDecision.model_validate({"decision": decision, "reason": reason or None})
        except ValueError:
            raise InvalidInput("驳回时请选择原因", detail_en="Choose a reason to reject") from None
        orgs_service.decide_document(
            session=session,
            clock=clock,
            operator_id=operator.user_id,
            document_id=document_id,
            decision=body,
            context=context,
        )
        return _redirect("/operator/orgs", "orgs_reviewed")

    return _attempt(session, act, lambda exc: _review_page(request, session, document_id, error=exc))
