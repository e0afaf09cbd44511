"""Pages of the privacy centre: see everything, ask, confirm by code, download a copy, close the account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qianshu.core.auth import Principal, RedirectTo, get_optional_user, login_url
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import QianshuError
from qianshu.privacy import cancellation, centre, export, parties, preferences
from qianshu.privacy import requests as requests_module
from qianshu.privacy.rendering import column_label, readable_value
from qianshu.privacy.staff import REASONS
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)
FormStr = Annotated[str, Form(max_length=2000)]
ShortStr = Annotated[str, Form(max_length=64)]


def signed_in_page(request: Request, session: DbSession) -> Principal:
    """Require a signed-in person (login redirect), without the re-consent gate."""
    principal = get_optional_user(request, session)
    if principal is None:
        raise RedirectTo(login_url(request))
    return principal


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


def message_of(request: Request, exc: QianshuError) -> str:
    """Return the error's detail in the page's language."""
    return exc.detail_en if _locale(request).startswith("en") else exc.detail


def attempt(request: Request, action: Callable[[], Response], on_error: Callable[[str, int], Response]) -> Response:
    """Run a form action; on a QianshuError show the page again with the message."""
    try:
        return action()
    except QianshuError as exc:
        return on_error(message_of(request, exc), exc.status)


def _centre(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    user: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    data = centre.my_data(session=session, clock=clock, user_id=user.user_id)
    reqs = requests_module.list_requests(session=session, clock=clock, user_id=user.user_id)
    notices = [Notice("error", error)] if error else []
    return render(
        request,
        "privacy/centre.html",
        {
            "data": data,
            "requests": reqs,
            "exports": export.list_exports(session=session, user_id=user.user_id),
            "prefs": preferences.get_preferences(session=session, user_id=user.user_id),
            "me": user.user_id,
            "kinds": requests_module.KIND_LABELS,
            "statuses": requests_module.STATUS_LABELS,
            "notices": notices,
            "readable": readable_value,
            "column_label": column_label,
        },
        status_code=status_code,
    )


@router.get("/privacy/centre", response_class=HTMLResponse)
def centre_page(request: Request, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """Show everything held about the signed-in person, with what they can do about each item."""
    user = signed_in_page(request, session)
    return _centre(request, session, clock, user)


@router.post("/privacy/centre/requests", response_model=None)
def centre_request(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    kind: ShortStr,
    details: FormStr = "",
    field: ShortStr = "",
    object_type: ShortStr = "",
    object_id: ShortStr = "",
) -> Response:
    """Open a request from the centre and go to its page to enter the code."""
    user = signed_in_page(request, session)

    def act() -> Response:
        challenge = requests_module.start_request(
            session=session,
            clock=clock,
            user_id=user.user_id,
            kind=kind,
            details=details,
            field=field or None,
            object_type=object_type or None,
            object_id=object_id or None,
            context=context,
        )
        return RedirectResponse(f"/privacy/centre/requests/{challenge.request_id}?sent={challenge.sent_to}", 303)

    return attempt(request, act, lambda msg, st: _centre(request, session, clock, user, error=msg, status_code=st))


def _request_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    user: Principal,
    request_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    item = requests_module.get_request(session=session, clock=clock, user_id=user.user_id, request_id=request_id)
    mine = [p for p in item.parties if p.party_id == user.user_id]
    return render(
        request,
        "privacy/centre_request.html",
        {
            "item": item,
            "me": user.user_id,
            "my_decision": mine[0].decision if mine else None,
            "sent_to": request.query_params.get("sent", "")[:40],
            "kinds": requests_module.KIND_LABELS,
            "statuses": requests_module.STATUS_LABELS,
            "notices": [Notice("error", error)] if error else [],
        },
        status_code=status_code,
    )


@router.get("/privacy/centre/requests/{request_id}", response_class=HTMLResponse)
def request_page(request_id: str, request: Request, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """Show one request: its status, deadline, steps, and the code form while it waits for one."""
    user = signed_in_page(request, session)
    return _request_page(request, session, clock, user, request_id)


@router.post("/privacy/centre/requests/{request_id}/{action}", response_model=None)
def request_action(
    request_id: str,
    action: str,
    request: Request,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    code: Annotated[str, Form(max_length=12)] = "",
    decision: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Confirm with the code, withdraw, or (as a party) agree or refuse."""
    user = signed_in_page(request, session)
    back = RedirectResponse(f"/privacy/centre/requests/{request_id}?notice=privacy_request_saved", 303)

    def act() -> Response:
        if action == "confirm":
            item = requests_module.get_request(
                session=session, clock=clock, user_id=user.user_id, request_id=request_id
            )
            confirm = cancellation.confirm if item.kind == "cancellation" else requests_module.confirm_request
            confirm(
                session=session,
                clock=clock,
                user_id=user.user_id,
                request_id=request_id,
                code=code,
                context=context,
            )
        elif action == "withdraw":
            requests_module.withdraw_request(
                session=session, clock=clock, user_id=user.user_id, request_id=request_id, context=context
            )
        elif action == "answer":
            parties.answer(
                session=session,
                clock=clock,
                user_id=user.user_id,
                request_id=request_id,
                decision=decision,
                context=context,
            )
        else:
            raise RedirectTo(f"/privacy/centre/requests/{request_id}")
        return back

    return attempt(
        request,
        act,
        lambda msg, st: _request_page(request, session, clock, user, request_id, error=msg, status_code=st),
    )


@router.post("/privacy/centre/exports", response_model=None)
def export_ask(request: Request, session: DbSession, clock: ClockDep, context: ContextDep) -> Response:
    """Ask for a copy; the next page holds the download links (the token lives only in its address)."""
    user = signed_in_page(request, session)

    def act() -> Response:
        created = export.request_export(session=session, clock=clock, user_id=user.user_id, context=context)
        return RedirectResponse(f"/privacy/centre/exports/{created.id}?token={created.token}", 303)

    return attempt(request, act, lambda msg, st: _centre(request, session, clock, user, error=msg, status_code=st))


@router.get("/privacy/centre/exports/{export_id}", response_class=HTMLResponse)
def export_page(export_id: str, request: Request, session: DbSession, token: str = "") -> HTMLResponse:
    """Show a copy's status and, when ready, its download links (the page refreshes while it is built)."""
    user = signed_in_page(request, session)
    found = [e for e in export.list_exports(session=session, user_id=user.user_id) if e.id == export_id]
    return render(
        request,
        "privacy/centre_export.html",
        {"item": found[0] if found else None, "token": token[:100], "export_id": export_id},
        status_code=200 if found else 404,
    )


@router.post("/privacy/centre/preferences", response_model=None)
def preferences_save(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    marketing_sms: Annotated[str | None, Form(max_length=8)] = None,
    marketing_email: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Save marketing preferences (all off withdraws the marketing consent)."""
    user = signed_in_page(request, session)

    def act() -> Response:
        preferences.set_preferences(
            session=session,
            clock=clock,
            user_id=user.user_id,
            marketing_sms=marketing_sms is not None,
            marketing_email=marketing_email is not None,
            context=context,
        )
        return RedirectResponse("/privacy/centre?notice=privacy_preferences_saved#preferences", 303)

    return attempt(request, act, lambda msg, st: _centre(request, session, clock, user, error=msg, status_code=st))


def _cancel_page(
    request: Request, session: DbSession, user: Principal, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "privacy/centre_cancel.html",
        {
            "preview": cancellation.preview(session=session, user_id=user.user_id),
            "notices": [Notice("error", error)] if error else [],
        },
        status_code=status_code,
    )


@router.get("/privacy/centre/cancel", response_class=HTMLResponse)
def cancel_page(request: Request, session: DbSession) -> HTMLResponse:
    """Explain what closing the account does, what stops it, and what the law keeps."""
    user = signed_in_page(request, session)
    return _cancel_page(request, session, user)


@router.post("/privacy/centre/cancel", response_model=None)
def cancel_start(request: Request, session: DbSession, clock: ClockDep, context: ContextDep) -> Response:
    """Start closing the account: a code is sent, then the cooling-off period begins."""
    user = signed_in_page(request, session)

    def act() -> Response:
        challenge = cancellation.start(session=session, clock=clock, user_id=user.user_id, context=context)
        return RedirectResponse(f"/privacy/centre/requests/{challenge.request_id}?sent={challenge.sent_to}", 303)

    return attempt(request, act, lambda msg, st: _cancel_page(request, session, user, error=msg, status_code=st))


@router.get("/privacy/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(request: Request, u: str = "", t: str = "") -> HTMLResponse:
    """Ask to confirm turning marketing off (a link in marketing messages; no sign-in needed)."""
    return render(request, "privacy/unsubscribe.html", {"user_id": u[:40], "token": t[:64], "done": False})


@router.post("/privacy/unsubscribe", response_class=HTMLResponse)
def unsubscribe_submit(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    user_id: Annotated[str, Form(max_length=40)],
    token: Annotated[str, Form(max_length=64)],
) -> HTMLResponse:
    """Turn all marketing off for the link's account."""
    try:
        preferences.unsubscribe(session=session, clock=clock, user_id=user_id, token=token, context=context)
    except QianshuError as exc:
        return render(
            request,
            "privacy/unsubscribe.html",
            {
                "user_id": user_id,
                "token": token,
                "done": False,
                "notices": [Notice("error", message_of(request, exc))],
            },
            status_code=exc.status,
        )
    return render(request, "privacy/unsubscribe.html", {"done": True})


def reasons(locale: str) -> list[tuple[str, str]]:
    """Return (code, label) of every reason staff may give to see personal data."""
    return [(code, labels[1] if locale.startswith("en") else labels[0]) for code, labels in REASONS.items()]


def context_for(request: Request) -> dict[str, Any]:
    """Return template values shared by the operator pages."""
    return {
        "reasons": reasons(_locale(request)),
        "kinds": requests_module.KIND_LABELS,
        "statuses": requests_module.STATUS_LABELS,
    }
