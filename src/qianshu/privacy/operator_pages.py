"""Operator pages of privacy operations: the request dashboard, the working-day calendar, staff roles."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import InvalidInput
from qianshu.privacy import holidays
from qianshu.privacy import requests as requests_module
from qianshu.privacy import staff as staff_module
from qianshu.privacy.centre_pages import attempt, context_for
from qianshu.privacy.staff import ROLES, Staff, staff_dependency
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Staff, Depends(staff_dependency("requests.view", page=True))]
CalendarManager = Annotated[Staff, Depends(staff_dependency("calendar.manage", page=True))]
StaffManager = Annotated[Staff, Depends(staff_dependency("staff.manage", page=True))]


@router.get("/operator/privacy/requests", response_class=HTMLResponse)
def dashboard(
    request: Request, staff: Viewer, session: DbSession, clock: ClockDep, closed: bool = False
) -> HTMLResponse:
    """Show the request queue, soonest deadline first, overdue and near-due requests flagged."""
    items = requests_module.list_queue(session=session, clock=clock, include_closed=closed)
    counts = {flag: sum(1 for i in items if i.flag == flag) for flag in ("overdue", "near_due")}
    return render(
        request,
        "privacy/ops_requests.html",
        {
            "items": items,
            "counts": counts,
            "closed": closed,
            "today": holidays.beijing_date(clock.now()),
            **context_for(request),
        },
    )


def _item_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    staff: Staff,
    request_id: str,
    *,
    reason: str | None = None,
    context: ContextDep | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    item = requests_module.get_request_for_staff(
        session=session, clock=clock, staff=staff, request_id=request_id, reason=reason, context=context
    )
    return render(
        request,
        "privacy/ops_request.html",
        {
            "item": item,
            "revealed": reason is not None,
            "notices": [Notice("error", error)] if error else [],
            **context_for(request),
        },
        status_code=status_code,
    )


@router.get("/operator/privacy/requests/{request_id}", response_class=HTMLResponse)
def item_page(
    request_id: str, request: Request, staff: Viewer, session: DbSession, clock: ClockDep
) -> HTMLResponse:
    """Show one request without the person's words (a reason reveals them)."""
    return _item_page(request, session, clock, staff, request_id)


@router.post("/operator/privacy/requests/{request_id}/{action}", response_model=None)
def item_action(
    request_id: str,
    action: str,
    request: Request,
    staff: Viewer,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    reason: Annotated[str, Form(max_length=32)] = "",
    outcome: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reveal (with a reason), take on, or answer a request."""

    def act() -> Response:
        if action == "reveal":
            return _item_page(request, session, clock, staff, request_id, reason=reason, context=context)
        if action == "assign":
            requests_module.assign_request(
                session=session, clock=clock, staff=staff, request_id=request_id, context=context
            )
        elif action == "resolve":
            requests_module.resolve_request(
                session=session,
                clock=clock,
                staff=staff,
                request_id=request_id,
                outcome=outcome,
                note=note,
                context=context,
            )
        else:
            raise InvalidInput("未知操作", detail_en="Unknown action")
        return RedirectResponse(f"/operator/privacy/requests/{request_id}?notice=privacy_request_saved", 303)

    return attempt(
        request,
        act,
        lambda msg, st: _item_page(request, session, clock, staff, request_id, error=msg, status_code=st),
    )


def _calendar_page(
    request: Request, session: DbSession, year: int, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "privacy/ops_calendar.html",
        {
            "year": year,
            "days": holidays.list_special_days(session=session, year=year),
            "years": holidays.bundled_years(),
            "notices": [Notice("error", error)] if error else [],
        },
        status_code=status_code,
    )


@router.get("/operator/privacy/calendar", response_class=HTMLResponse)
def calendar_page(
    request: Request, staff: Viewer, session: DbSession, clock: ClockDep, year: int = 0
) -> HTMLResponse:
    """Show a year's holidays and make-up working days and where each comes from."""
    year = year if 2000 <= year <= 2100 else holidays.beijing_date(clock.now()).year
    return _calendar_page(request, session, year)


@router.post("/operator/privacy/calendar", response_model=None)
def calendar_submit(
    request: Request,
    staff: CalendarManager,
    session: DbSession,
    clock: ClockDep,
    day: Annotated[date, Form()],
    kind: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(max_length=64)] = "",
    remove: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Add, change or remove an operator calendar entry."""

    def act() -> Response:
        if remove:
            holidays.remove_calendar_day(session=session, clock=clock, actor=staff.user_id, day=day)
        else:
            holidays.set_calendar_day(
                session=session, clock=clock, actor=staff.user_id, day=day, kind=kind, name=name
            )
        return RedirectResponse(
            f"/operator/privacy/calendar?year={day.year}&notice=privacy_calendar_saved", 303
        )

    return attempt(
        request, act, lambda msg, st: _calendar_page(request, session, day.year, error=msg, status_code=st)
    )


def _staff_page(
    request: Request, session: DbSession, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "privacy/ops_staff.html",
        {
            "assignments": staff_module.list_roles(session=session),
            "roles": ROLES,
            "accesses": staff_module.list_staff_access(
                session=session, limit=100, locale=str(getattr(request.state, "locale", "zh-CN"))
            ),
            "notices": [Notice("error", error)] if error else [],
        },
        status_code=status_code,
    )


@router.get("/operator/privacy/staff", response_class=HTMLResponse)
def staff_page(request: Request, staff: StaffManager, session: DbSession) -> HTMLResponse:
    """Show operator sub-roles and the latest staff accesses to personal data."""
    return _staff_page(request, session)


@router.post("/operator/privacy/staff", response_model=None)
def staff_submit(
    request: Request,
    staff: StaffManager,
    session: DbSession,
    clock: ClockDep,
    user_id: Annotated[str, Form(max_length=40)],
    role: Annotated[str, Form(max_length=24)],
    revoke: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Grant or take away an operator sub-role."""

    def act() -> Response:
        if revoke:
            staff_module.revoke_role(
                session=session, clock=clock, actor=staff.user_id, user_id=user_id, role=role
            )
        else:
            staff_module.grant_role(
                session=session, clock=clock, actor=staff.user_id, user_id=user_id, role=role
            )
        return RedirectResponse("/operator/privacy/staff?notice=privacy_staff_saved", 303)

    return attempt(request, act, lambda msg, st: _staff_page(request, session, error=msg, status_code=st))
