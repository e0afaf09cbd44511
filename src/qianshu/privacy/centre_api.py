"""JSON API of the privacy centre (people) and of privacy operations (operators, by sub-role).

A person can always see their data, their requests and close their account, even while a new
policy version waits for acceptance (the re-consent gate does not apply here).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from qianshu.core.auth import Acting, SignedInActing
from qianshu.core.auth import SignedInUser as SignedIn
from qianshu.core.deps import CallingDep, ClockDep, DbSession
from qianshu.core.errors import InvalidInput
from qianshu.privacy import (
    cancellation,
    centre,
    export,
    holidays,
    incidents,
    parties,
    preferences,
    statistics,
)
from qianshu.privacy import requests as requests_module
from qianshu.privacy import staff as staff_module
from qianshu.privacy.centre_schemas import (
    CancellationPreview,
    CodeChallenge,
    ExportCreated,
    ExportRead,
    IncidentCreate,
    IncidentRead,
    PartyAnswer,
    PreferencesRead,
    PreferencesUpdate,
    PrivacyCentre,
    RequestConfirm,
    RequestCreate,
    RequestRead,
    RequestResolve,
    RevealRequest,
    StaffAccessRead,
    StaffRoleRead,
    StatisticsReport,
)
from qianshu.privacy.staff import Staff, staff_dependency

router = APIRouter(tags=["privacy centre"])


RequestsViewer = Annotated[Staff, Depends(staff_dependency("requests.view"))]
# Handling checks the kind-specific permission in the service (complaints: support may answer).
RequestsHandler = Annotated[Staff, Depends(staff_dependency("requests.view"))]
ContactRevealer = Annotated[Staff, Depends(staff_dependency("pi.reveal.contact"))]
CalendarManager = Annotated[Staff, Depends(staff_dependency("calendar.manage"))]
StaffManager = Annotated[Staff, Depends(staff_dependency("staff.manage"))]
AccessAuditor = Annotated[Staff, Depends(staff_dependency("staff_access.audit"))]


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


def _mine(act: Acting, **named: Any) -> dict[str, Any]:
    """Return the keyword arguments of an action of the signed-in person."""
    return act.args(user_id=act.user.user_id, **named)


# --- the person's centre -------------------------------------------------------------------------


@router.get("/api/v1/me/privacy", response_model=PrivacyCentre)
def my_privacy(user: SignedIn, session: DbSession, clock: ClockDep) -> PrivacyCentre:
    """Return everything the platform holds about the signed-in person, in clear, by category."""
    return centre.my_data(session=session, clock=clock, user_id=user.user_id)


@router.get("/api/v1/me/privacy/requests", response_model=list[RequestRead])
def my_requests(user: SignedIn, session: DbSession, clock: ClockDep) -> list[RequestRead]:
    """List the person's requests and those they are a party to."""
    return requests_module.list_requests(session=session, clock=clock, user_id=user.user_id)


@router.post("/api/v1/me/privacy/requests", response_model=CodeChallenge, status_code=202)
def open_request(body: RequestCreate, act: SignedInActing) -> CodeChallenge:
    """Open a request; a one-time code goes to the account's phone or e-mail to confirm it."""
    details = {"details": body.details, "field": body.field, "object_type": body.object_type}
    return requests_module.start_request(**_mine(act, kind=body.kind, object_id=body.object_id, **details))


@router.get("/api/v1/me/privacy/requests/{request_id}", response_model=RequestRead)
def my_request(request_id: str, user: SignedIn, session: DbSession, clock: ClockDep) -> RequestRead:
    """Return one request with its deadline and every step."""
    return requests_module.get_request(session=session, clock=clock, user_id=user.user_id, request_id=request_id)


@router.post("/api/v1/me/privacy/requests/{request_id}/confirm", response_model=RequestRead)
def confirm_request(request_id: str, body: RequestConfirm, act: SignedInActing) -> RequestRead:
    """Confirm a request with its one-time code; the deadline starts."""
    row = requests_module.get_request(
        session=act.session, clock=act.clock, user_id=act.user.user_id, request_id=request_id
    )
    confirm = cancellation.confirm if row.kind == "cancellation" else requests_module.confirm_request
    return confirm(**_mine(act, request_id=request_id, code=body.code))


@router.post("/api/v1/me/privacy/requests/{request_id}/withdraw", response_model=RequestRead)
def withdraw_request(request_id: str, act: SignedInActing) -> RequestRead:
    """Withdraw one's own open request (or a cancellation during its cooling-off period)."""
    return requests_module.withdraw_request(**_mine(act, request_id=request_id))


@router.post("/api/v1/me/privacy/requests/{request_id}/answer", response_model=RequestRead)
def answer_request(request_id: str, body: PartyAnswer, act: SignedInActing) -> RequestRead:
    """Agree or refuse, as a party, to the deletion of data tied to a shared contract."""
    return parties.answer(**_mine(act, request_id=request_id, decision=body.decision))


@router.get("/api/v1/me/privacy/exports", response_model=list[ExportRead])
def my_exports(user: SignedIn, session: DbSession) -> list[ExportRead]:
    """List the person's data copies."""
    return export.list_exports(session=session, user_id=user.user_id)


@router.post("/api/v1/me/privacy/exports", response_model=ExportCreated, status_code=202)
def ask_export(act: SignedInActing) -> ExportCreated:
    """Ask for a copy of one's data (JSON and PDF); keep the token to download it."""
    return export.request_export(**_mine(act))


@router.get("/api/v1/me/privacy/exports/{export_id}/{fmt}")
def download_export(
    export_id: str, fmt: str, act: SignedInActing, token: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """Download a ready copy (`json` or `pdf`) with its token."""
    content, media, name = export.download(**_mine(act, export_id=export_id, token=token, fmt=fmt))
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/api/v1/me/privacy/cancellation", response_model=CancellationPreview)
def cancellation_preview(user: SignedIn, session: DbSession) -> CancellationPreview:
    """Explain what closing the account would do now and what stops it."""
    return cancellation.preview(session=session, user_id=user.user_id)


@router.post("/api/v1/me/privacy/cancellation", response_model=CodeChallenge, status_code=202)
def start_cancellation(act: SignedInActing) -> CodeChallenge:
    """Ask to close the account; confirm with the code at `/requests/{id}/confirm`."""
    return cancellation.start(**_mine(act))


@router.get("/api/v1/me/privacy/preferences", response_model=PreferencesRead)
def my_preferences(user: SignedIn, session: DbSession) -> PreferencesRead:
    """Return the marketing channels the person agreed to (all off by default)."""
    return preferences.get_preferences(session=session, user_id=user.user_id)


@router.put("/api/v1/me/privacy/preferences", response_model=PreferencesRead)
def set_preferences(body: PreferencesUpdate, act: SignedInActing) -> PreferencesRead:
    """Choose marketing channels; switching all off withdraws the marketing consent."""
    channels = {"marketing_sms": body.marketing_sms, "marketing_email": body.marketing_email}
    return preferences.set_preferences(**_mine(act, **channels))


class Unsubscribe(BaseModel):
    """The one-click unsubscribe link's parameters."""

    user_id: str = Field(max_length=40)
    token: str = Field(max_length=64)


@router.post("/api/v1/privacy/unsubscribe", response_model=PreferencesRead)
def unsubscribe(body: Unsubscribe, call: CallingDep) -> PreferencesRead:
    """Turn all marketing off from an unsubscribe link (no sign-in needed)."""
    return preferences.unsubscribe(**call.args(user_id=body.user_id, token=body.token))


# --- operators ---------------------------------------------------------------------------------


@router.get("/api/v1/operator/privacy/requests", response_model=list[RequestRead])
def queue(
    staff: RequestsViewer, session: DbSession, clock: ClockDep, include_closed: bool = False
) -> list[RequestRead]:
    """List requests, soonest deadline first, with near-due and overdue flags (no personal data)."""
    return requests_module.list_queue(session=session, clock=clock, include_closed=include_closed)


@router.get("/api/v1/operator/privacy/requests/{request_id}", response_model=RequestRead)
def queue_item(
    request_id: str,
    staff: RequestsViewer,
    call: CallingDep,
    reason: Annotated[str | None, Query(max_length=32)] = None,
) -> RequestRead:
    """Return a request; with `reason`, include the person's words (the access is logged)."""
    return requests_module.get_request_for_staff(**call.args(staff=staff, request_id=request_id, reason=reason))


@router.post("/api/v1/operator/privacy/requests/{request_id}/assign", response_model=RequestRead)
def assign(request_id: str, staff: RequestsHandler, call: CallingDep) -> RequestRead:
    """Take a request on."""
    return requests_module.assign_request(**call.args(staff=staff, request_id=request_id))


@router.post("/api/v1/operator/privacy/requests/{request_id}/resolve", response_model=RequestRead)
def resolve(request_id: str, body: RequestResolve, staff: RequestsHandler, call: CallingDep) -> RequestRead:
    """Answer a request: completed or rejected, with a note the person reads."""
    answer = {"outcome": body.outcome, "note": body.note}
    return requests_module.resolve_request(**call.args(staff=staff, request_id=request_id, **answer))


@router.get("/api/v1/operator/privacy/subjects/{user_id}", response_model=PrivacyCentre)
def subject_masked(user_id: str, staff: ContactRevealer, session: DbSession, clock: ClockDep) -> PrivacyCentre:
    """Return what is held about a person, masked."""
    return centre.subject_data_masked(session=session, clock=clock, user_id=user_id)


@router.post("/api/v1/operator/privacy/subjects/{user_id}/reveal", response_model=PrivacyCentre)
def subject_reveal(user_id: str, body: RevealRequest, staff: ContactRevealer, call: CallingDep) -> PrivacyCentre:
    """Show a person's data in clear, as far as the operator's roles allow; logged and shown to them."""
    why = {"reason": body.reason, "note": body.note, "object_id": body.object_id}
    return centre.reveal_for_staff(**call.args(staff_id=staff.user_id, staff_roles=staff.roles, user_id=user_id, **why))


class CalendarDayIn(BaseModel):
    """An operator's calendar entry."""

    kind: str = Field(max_length=16)
    name: str = Field(max_length=64)
    note: str | None = Field(default=None, max_length=400)


class CalendarDayOut(BaseModel):
    """A day of the working-day calendar."""

    day: date
    kind: str
    name: str
    source: str
    working: bool


@router.get("/api/v1/operator/privacy/calendar/{year}", response_model=list[CalendarDayOut])
def calendar_year(year: int, staff: RequestsViewer, session: DbSession) -> list[CalendarDayOut]:
    """List the holidays and make-up working days of `year`."""
    if not 2000 <= year <= 2100:
        raise InvalidInput("年份超出范围", detail_en="Year out of range")
    days = holidays.list_special_days(session=session, year=year)
    return [CalendarDayOut(day=d.day, kind=d.kind, name=d.name, source=d.source, working=d.working) for d in days]


@router.put("/api/v1/operator/privacy/calendar/{day}", response_model=CalendarDayOut)
def calendar_set(
    day: date, body: CalendarDayIn, staff: CalendarManager, session: DbSession, clock: ClockDep
) -> CalendarDayOut:
    """Set a day as holiday, make-up working day or ordinary day (overrides the bundled data)."""
    info = holidays.set_calendar_day(
        session=session,
        clock=clock,
        actor=staff.user_id,
        day=day,
        kind=body.kind,
        name=body.name,
        note=body.note,
    )
    return CalendarDayOut(day=info.day, kind=info.kind, name=info.name, source=info.source, working=info.working)


@router.delete("/api/v1/operator/privacy/calendar/{day}", status_code=204)
def calendar_remove(day: date, staff: CalendarManager, session: DbSession, clock: ClockDep) -> Response:
    """Remove an operator entry."""
    holidays.remove_calendar_day(session=session, clock=clock, actor=staff.user_id, day=day)
    return Response(status_code=204)


class RoleChange(BaseModel):
    """Grant or take a sub-role."""

    user_id: str = Field(max_length=40)
    role: str = Field(max_length=24)


@router.get("/api/v1/operator/privacy/staff-roles", response_model=list[StaffRoleRead])
def roles(staff: StaffManager, session: DbSession) -> list[StaffRoleRead]:
    """List operator sub-role assignments."""
    return staff_module.list_roles(session=session)


@router.post("/api/v1/operator/privacy/staff-roles", response_model=StaffRoleRead, status_code=201)
def grant(body: RoleChange, staff: StaffManager, session: DbSession, clock: ClockDep) -> StaffRoleRead:
    """Give an operator a sub-role."""
    return staff_module.grant_role(
        session=session, clock=clock, actor=staff.user_id, user_id=body.user_id, role=body.role
    )


@router.delete("/api/v1/operator/privacy/staff-roles/{user_id}/{role}", status_code=204)
def revoke(user_id: str, role: str, staff: StaffManager, session: DbSession, clock: ClockDep) -> Response:
    """Take a sub-role away."""
    staff_module.revoke_role(session=session, clock=clock, actor=staff.user_id, user_id=user_id, role=role)
    return Response(status_code=204)


@router.get("/api/v1/operator/privacy/staff-access", response_model=list[StaffAccessRead])
def staff_access(
    request: Request,
    staff: AccessAuditor,
    session: DbSession,
    subject_id: Annotated[str | None, Query(max_length=40)] = None,
    staff_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[StaffAccessRead]:
    """Audit staff access to personal data (without the sealed notes)."""
    return staff_module.list_staff_access(
        session=session, subject_id=subject_id, staff_id=staff_id, locale=_locale(request)
    )


# --- incidents (P12) and statistics (P14) -----------------------------------------------------

IncidentManager = Annotated[Staff, Depends(staff_dependency("incidents.manage"))]


@router.get("/api/v1/me/privacy/incidents", response_model=list[IncidentRead])
def my_incident_notices(user: SignedIn, session: DbSession) -> list[IncidentRead]:
    """List the security-incident notices addressed to the signed-in person."""
    return incidents.notices_for(session=session, user_id=user.user_id)


@router.get("/api/v1/operator/privacy/incidents", response_model=list[IncidentRead])
def incident_list(staff: IncidentManager, session: DbSession) -> list[IncidentRead]:
    """List incidents."""
    return incidents.list_incidents(session=session)


@router.post("/api/v1/operator/privacy/incidents", response_model=IncidentRead, status_code=201)
def incident_record(body: IncidentCreate, staff: IncidentManager, session: DbSession, clock: ClockDep) -> IncidentRead:
    """Record an incident and compute the affected people."""
    return incidents.record_incident(session=session, clock=clock, actor=staff.user_id, data=body)


@router.post("/api/v1/operator/privacy/incidents/{incident_id}/notices", status_code=202)
def incident_notices(incident_id: str, staff: IncidentManager, session: DbSession, clock: ClockDep) -> dict[str, str]:
    """Start telling every affected person (sent in batches by a job)."""
    job_id = incidents.send_notices(session=session, clock=clock, actor=staff.user_id, incident_id=incident_id)
    return {"job_id": job_id}


@router.get("/api/v1/operator/privacy/incidents/{incident_id}/report")
def incident_report(incident_id: str, staff: IncidentManager, session: DbSession, clock: ClockDep) -> Response:
    """Export the regulator report (JSON) and mark the incident reported."""
    import json

    report = incidents.regulator_report(session=session, clock=clock, actor=staff.user_id, incident_id=incident_id)
    return Response(
        json.dumps(report, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="incident-{incident_id}.json"'},
    )


@router.post("/api/v1/operator/privacy/incidents/{incident_id}/close", response_model=IncidentRead)
def incident_close(incident_id: str, staff: IncidentManager, session: DbSession, clock: ClockDep) -> IncidentRead:
    """Close a handled incident."""
    return incidents.close_incident(session=session, clock=clock, actor=staff.user_id, incident_id=incident_id)


@router.get("/api/v1/privacy/statistics", response_model=StatisticsReport)
def published_statistics(session: DbSession, clock: ClockDep) -> StatisticsReport:
    """Return the platform's de-identified statistics (small groups suppressed)."""
    return statistics.compute(session=session, clock=clock)
