"""Personal-information requests with deadlines (P6): submit, confirm identity, queue, answer.

A person asks (deletion, contract-linked deletion, correction of verified identity data, complaint,
access, portability; account cancellation goes through `cancellation.py`). The request counts as
received once a one-time code proves it is them (`reverify.py`); from that Beijing date the answer
is due within `privacy_request_working_days` working days (default 15, TX 五: "收到请求并验证您的
身份后15个工作日内"), counted on the Chinese working-day calendar (`holidays.py`). Operators with the
right sub-role work the queue; requests near their deadline or past it are flagged on the dashboard
and announced to privacy officers by a daily job. Every step is audited on the person's stream and
shown to them; notes are sealed under their vault key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.privacy import holidays, notices, reverify
from qianshu.privacy.centre_models import PartyDecision, PrivacyRequest, RequestStep
from qianshu.privacy.centre_schemas import CodeChallenge, PartyDecisionRead, RequestRead, RequestStepRead
from qianshu.privacy.errors import RequestNotFound, RequestStateConflict
from qianshu.privacy.staff import PRIVACY_OFFICER, ROLES, Staff, record_staff_access
from qianshu.vault import service as vault_service

log = get_logger("qianshu.privacy")

TABLE, STEP_TABLE = "privacy_request", "privacy_request_step"
USER_KINDS = ("deletion", "contract_deletion", "correction", "complaint", "access", "portability")
KIND_LABELS: dict[str, tuple[str, str]] = {
    "deletion": ("删除个人信息", "Delete personal information"),
    "contract_deletion": ("删除合同相关个人信息", "Delete contract-linked information"),
    "correction": ("更正已核验的身份信息", "Correct verified identity data"),
    "complaint": ("投诉与异议", "Complaint or objection"),
    "access": ("查阅个人信息", "Access personal information"),
    "portability": ("转移个人信息", "Transfer personal information"),
    "cancellation": ("注销账户", "Close the account"),
}
AWAITING_CODE, AWAITING_PARTIES, OPEN, IN_PROGRESS = (
    "awaiting_code",
    "awaiting_parties",
    "open",
    "in_progress",
)
COOLING_OFF, COMPLETED, REJECTED, WITHDRAWN = "cooling_off", "completed", "rejected", "withdrawn"
REFUSED = "refused_by_party"
STATUS_LABELS: dict[str, tuple[str, str]] = {
    AWAITING_CODE: ("待验证身份", "Awaiting identity check"),
    AWAITING_PARTIES: ("等待相关方同意", "Awaiting the other parties"),
    OPEN: ("已受理", "Received"),
    IN_PROGRESS: ("处理中", "In progress"),
    COOLING_OFF: ("冷静期中", "Cooling-off period"),
    COMPLETED: ("已完成", "Completed"),
    REJECTED: ("已驳回", "Rejected"),
    WITHDRAWN: ("已撤回", "Withdrawn"),
    REFUSED: ("相关方未同意", "Refused by a party"),
}
ACTIVE_STATUSES = (OPEN, IN_PROGRESS)
CLOSED_STATUSES = (COMPLETED, REJECTED, WITHDRAWN, REFUSED)
SCAN_JOB = "privacy.scan_deadlines"
SCAN_HOUR_UTC = 1  # 09:00 in Beijing, the start of a working day
_CORRECTABLE = ("real_name", "id_number", "id_document", "org_name", "legal_representative", "other")


@dataclass(frozen=True)
class DeadlineScan:
    """Open requests past their deadline and those close to it, on `today` (Beijing date)."""

    today: date
    overdue: list[str]
    near_due: list[str]


# --- helpers ---------------------------------------------------------------------------------


def _seal(session: Session, user_id: str, column: str, row_id: str, text: str | None) -> bytes | None:
    text = (text or "").strip()
    if not text or vault_service.is_shredded(session=session, subject_id=user_id):
        return None
    return vault_service.encrypt_field(
        session=session, subject_id=user_id, table=TABLE, column=column, row_id=row_id, value=text
    )


def _open(session: Session, user_id: str, column: str, row_id: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    try:
        return vault_service.decrypt_field(
            session=session, subject_id=user_id, table=TABLE, column=column, row_id=row_id, blob=blob
        )
    except vault_service.DataShredded:
        return None


def add_step(
    session: Session,
    clock: Clock,
    row: PrivacyRequest,
    *,
    actor: str,
    actor_role: str,
    action: str,
    note: str | None = None,
    context: RequestContext | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append a step to the request's history and its audit event to the person's stream."""
    seq = (session.scalar(select(func.max(RequestStep.seq)).where(RequestStep.request_id == row.id)) or 0) + 1
    step_id = new_id("prs")
    note_enc = None
    if note and note.strip() and not vault_service.is_shredded(session=session, subject_id=row.user_id):
        note_enc = vault_service.encrypt_field(
            session=session,
            subject_id=row.user_id,
            table=STEP_TABLE,
            column="note",
            row_id=step_id,
            value=note.strip()[:2000],
        )
    session.add(
        RequestStep(
            id=step_id,
            request_id=row.id,
            seq=seq,
            at=clock.now(),
            actor=actor,
            actor_role=actor_role,
            action=action,
            note_enc=note_enc,
        )
    )
    row.updated_at = clock.now()
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{row.user_id}",
        actor=actor,
        action=f"privacy.request_{action}",
        object_id=row.id,
        data={"kind": row.kind, "status": row.status, **(data or {})},
        context=context,
    )


def _row_or_raise(session: Session, request_id: str) -> PrivacyRequest:
    row = session.get(PrivacyRequest, request_id) if is_id(request_id, "prq") else None
    if row is None:
        raise RequestNotFound()
    return row


def _is_party(session: Session, request_id: str, user_id: str) -> bool:
    found = session.scalar(
        select(PartyDecision.id).where(
            PartyDecision.request_id == request_id, PartyDecision.party_id == user_id
        )
    )
    return found is not None


def _visible_row(session: Session, request_id: str, user_id: str) -> PrivacyRequest:
    row = _row_or_raise(session, request_id)
    if row.user_id != user_id and not _is_party(session, row.id, user_id):
        raise RequestNotFound()
    return row


def flag_of(
    calendar: holidays.Calendar, row: PrivacyRequest, today: date, warn: int
) -> tuple[str, int | None]:
    """Return the request's flag (`none`, `near_due`, `overdue`) and working days left."""
    if row.due_on is None or row.status not in (*ACTIVE_STATUSES, AWAITING_PARTIES):
        return "none", None
    left = calendar.working_days_between(today, row.due_on)
    if today > row.due_on:
        return "overdue", left
    if left <= warn:
        return "near_due", left
    return "none", left


def to_read(
    session: Session,
    clock: Clock,
    row: PrivacyRequest,
    *,
    reveal: bool,
    calendar: holidays.Calendar | None = None,
) -> RequestRead:
    """Build the request's view; notes and details in clear only when `reveal`."""
    calendar = calendar or holidays.load_calendar(session=session)
    settings = runtime_of(session).settings
    flag, left = flag_of(
        calendar, row, holidays.beijing_date(clock.now()), settings.privacy_request_warn_working_days
    )
    steps = session.scalars(
        select(RequestStep).where(RequestStep.request_id == row.id).order_by(RequestStep.seq)
    )
    parties = session.scalars(
        select(PartyDecision).where(PartyDecision.request_id == row.id).order_by(PartyDecision.created_at)
    )
    step_reads = []
    for step in steps:
        note = None
        if reveal and step.note_enc is not None:
            try:
                note = vault_service.decrypt_field(
                    session=session,
                    subject_id=row.user_id,
                    table=STEP_TABLE,
                    column="note",
                    row_id=step.id,
                    blob=step.note_enc,
                )
            except vault_service.DataShredded:
                note = None
        step_reads.append(
            RequestStepRead(
                seq=step.seq, at=step.at, actor_role=step.actor_role, action=step.action, note=note
            )
        )
    return RequestRead(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        status=row.status,
        object_type=row.object_type,
        object_id=row.object_id,
        field=row.field,
        details=_open(session, row.user_id, "details", row.id, row.details_enc) if reveal else None,
        created_at=row.created_at,
        verified_at=row.verified_at,
        due_on=row.due_on,
        working_days=row.working_days,
        calendar_provisional=row.calendar_provisional,
        execute_after=row.execute_after,
        assigned_to=row.assigned_to,
        resolution=row.resolution,
        resolution_note=_open(session, row.user_id, "resolution_note", row.id, row.resolution_note_enc)
        if reveal
        else None,
        closed_at=row.closed_at,
        flag=flag,  # type: ignore[arg-type]  # one of the three literals
        working_days_left=left,
        steps=step_reads,
        parties=[
            PartyDecisionRead(party_id=p.party_id, decision=p.decision, decided_at=p.decided_at)  # type: ignore[arg-type]  # stored literal
            for p in parties
        ],
    )


def start_deadline(session: Session, clock: Clock, row: PrivacyRequest) -> None:
    """Start the answer deadline from now (Beijing date, working days)."""
    days = runtime_of(session).settings.privacy_request_working_days
    deadline = holidays.deadline_for(session=session, received_at=clock.now(), working_days=days)
    row.due_on, row.working_days, row.calendar_provisional = deadline.due_on, days, deadline.provisional
    ensure_scan_scheduled(session=session, clock=clock)


def tell_status(session: Session, clock: Clock, row: PrivacyRequest, *, locale: str = "zh-CN") -> None:
    """Tell the person their request changed (SMS or e-mail; nothing when unreachable)."""
    label = STATUS_LABELS.get(row.status, (row.status, row.status))
    notices.notify_user(
        session=session,
        clock=clock,
        user_id=row.user_id,
        template="privacy_request_update",
        params={"request_id": row.id, "status": label[1] if locale.startswith("en") else label[0]},
        locale=locale,
    )


# --- the person's side -----------------------------------------------------------------------


def _check_new(
    session: Session,
    user_id: str,
    kind: str,
    field: str | None,
    object_type: str | None,
    object_id: str | None,
    details: str,
) -> None:
    if kind not in USER_KINDS:
        raise InvalidInput("请求类型无效", detail_en=f"Unknown request kind {kind[:32]}")
    if len(details) > 2000 or "\x00" in details:
        raise InvalidInput("说明不超过 2000 字", detail_en="The details are over 2000 characters")
    if kind == "correction" and field not in _CORRECTABLE:
        raise InvalidInput("请选择要更正的身份信息", detail_en="Choose the identity field to correct")
    if kind == "contract_deletion":
        from qianshu.privacy import parties

        if not object_type or not object_id:
            raise InvalidInput("请指明合同", detail_en="Name the contract")
        parties.parties_or_raise(
            session=session, object_type=object_type, object_id=object_id, requester=user_id
        )
    if kind in ("deletion", "complaint") and not details.strip() and not field:
        raise InvalidInput("请说明您的请求", detail_en="Describe your request")


def start_request(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    kind: str,
    details: str = "",
    field: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    context: RequestContext | None = None,
) -> CodeChallenge:
    """Check the request, send a one-time code, and hold the request until the code comes back."""
    _check_new(session, user_id, kind, field, object_type, object_id, details)
    sent = reverify.send_code(session=session, clock=clock, user_id=user_id, context=context)
    now = clock.now()
    request_id = new_id("prq")
    row = PrivacyRequest(
        id=request_id,
        user_id=user_id,
        kind=kind,
        status=AWAITING_CODE,
        object_type=object_type,
        object_id=object_id,
        field=field,
        details_enc=_seal(session, user_id, "details", request_id, details),
        otp_id=sent.otp_id,
        created_at=now,
        calendar_provisional=False,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    add_step(session, clock, row, actor=user_id, actor_role="subject", action="submitted", context=context)
    return CodeChallenge(
        request_id=request_id,
        channel=sent.channel,
        sent_to=sent.sent_to,
        expires_in=sent.expires_in,
    )


def confirm_request(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    request_id: str,
    code: str,
    context: RequestContext | None = None,
) -> RequestRead:
    """Check the one-time code; the request is then received and its deadline starts."""
    row = _row_or_raise(session, request_id)
    if row.user_id != user_id:
        raise RequestNotFound()
    if row.status != AWAITING_CODE:
        raise RequestStateConflict("该请求已确认", detail_en="The request is confirmed already")
    reverify.check_code(session=session, clock=clock, user_id=user_id, code=code)
    row.verified_at = clock.now()
    if row.kind == "contract_deletion":
        from qianshu.privacy import parties

        row.status = AWAITING_PARTIES
        add_step(session, clock, row, actor=user_id, actor_role="subject", action="verified", context=context)
        parties.ask_parties(session=session, clock=clock, row=row, context=context)
    else:
        row.status = OPEN
        start_deadline(session, clock, row)
        add_step(
            session,
            clock,
            row,
            actor=user_id,
            actor_role="subject",
            action="verified",
            context=context,
            data={"due_on": row.due_on.isoformat() if row.due_on else None},
        )
    return to_read(session, clock, row, reveal=True)


def withdraw_request(
    *, session: Session, clock: Clock, user_id: str, request_id: str, context: RequestContext | None = None
) -> RequestRead:
    """Withdraw one's own request while it is still open (or cooling off)."""
    row = _row_or_raise(session, request_id)
    if row.user_id != user_id:
        raise RequestNotFound()
    if row.status in CLOSED_STATUSES:
        raise RequestStateConflict("该请求已结束", detail_en="The request is closed already")
    row.status, row.closed_at, row.resolution = WITHDRAWN, clock.now(), WITHDRAWN
    add_step(session, clock, row, actor=user_id, actor_role="subject", action="withdrawn", context=context)
    return to_read(session, clock, row, reveal=True)


def get_request(*, session: Session, clock: Clock, user_id: str, request_id: str) -> RequestRead:
    """Return a request the person made (with notes) or is a party to (without the requester's words)."""
    row = _visible_row(session, request_id, user_id)
    return to_read(session, clock, row, reveal=row.user_id == user_id)


def list_requests(*, session: Session, clock: Clock, user_id: str) -> list[RequestRead]:
    """Return the person's own requests and those they are a party to, newest first."""
    party_of = select(PartyDecision.request_id).where(PartyDecision.party_id == user_id)
    rows = session.scalars(
        select(PrivacyRequest)
        .where(or_(PrivacyRequest.user_id == user_id, PrivacyRequest.id.in_(party_of)))
        .order_by(PrivacyRequest.created_at.desc())
    )
    calendar = holidays.load_calendar(session=session)
    return [to_read(session, clock, r, reveal=r.user_id == user_id, calendar=calendar) for r in rows]


# --- the operator's side ----------------------------------------------------------------------


def list_queue(
    *, session: Session, clock: Clock, include_closed: bool = False, limit: int = 500
) -> list[RequestRead]:
    """Return requests for operators, soonest deadline first (no personal data)."""
    statuses = [*ACTIVE_STATUSES, AWAITING_PARTIES, COOLING_OFF]
    if include_closed:
        statuses += list(CLOSED_STATUSES)
    rows = session.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.status.in_(statuses))
        .order_by(PrivacyRequest.due_on.is_(None), PrivacyRequest.due_on, PrivacyRequest.created_at)
        .limit(limit)
    )
    calendar = holidays.load_calendar(session=session)
    return [to_read(session, clock, r, reveal=False, calendar=calendar) for r in rows]


def _permission_for(row: PrivacyRequest) -> str:
    return "complaints.handle" if row.kind == "complaint" else "requests.handle"


def _check_staff(staff: Staff, row: PrivacyRequest) -> None:
    from qianshu.privacy.errors import StaffRoleRequired
    from qianshu.privacy.staff import PERMISSIONS

    if not staff.roles & PERMISSIONS[_permission_for(row)]:
        raise StaffRoleRequired(detail_en="Your operator role cannot handle this kind of request")


def get_request_for_staff(
    *,
    session: Session,
    clock: Clock,
    staff: Staff,
    request_id: str,
    reason: str | None = None,
    context: RequestContext | None = None,
) -> RequestRead:
    """Return a request for operators; with a `reason`, show the person's words too (access logged)."""
    row = _row_or_raise(session, request_id)
    if reason is None:
        return to_read(session, clock, row, reveal=False)
    _check_staff(staff, row)
    record_staff_access(
        session=session,
        clock=clock,
        staff_id=staff.user_id,
        staff_role=staff.role,
        subject_id=row.user_id,
        fields=["privacy_request.details", "privacy_request.notes"],
        reason=reason,
        object_id=row.id,
        context=context,
    )
    return to_read(session, clock, row, reveal=True)


def assign_request(
    *, session: Session, clock: Clock, staff: Staff, request_id: str, context: RequestContext | None = None
) -> RequestRead:
    """Take a request on: it is now in progress with this operator."""
    row = _row_or_raise(session, request_id)
    _check_staff(staff, row)
    if row.status not in ACTIVE_STATUSES:
        raise RequestStateConflict()
    row.status, row.assigned_to = IN_PROGRESS, staff.user_id
    add_step(session, clock, row, actor=staff.user_id, actor_role="staff", action="assigned", context=context)
    tell_status(session, clock, row)
    return to_read(session, clock, row, reveal=False)


def resolve_request(
    *,
    session: Session,
    clock: Clock,
    staff: Staff,
    request_id: str,
    outcome: str,
    note: str = "",
    context: RequestContext | None = None,
) -> RequestRead:
    """Answer a request (completed or rejected, with a note the person reads); runs the deletion when due."""
    if outcome not in (COMPLETED, REJECTED):
        raise InvalidInput(
            "处理结果须为 completed 或 rejected", detail_en="outcome must be completed or rejected"
        )
    row = _row_or_raise(session, request_id)
    _check_staff(staff, row)
    if row.status not in ACTIVE_STATUSES:
        raise RequestStateConflict()
    if outcome == REJECTED and not note.strip():
        raise InvalidInput("驳回时须说明理由", detail_en="A rejection needs a reason for the person")
    if outcome == COMPLETED and row.kind == "contract_deletion":
        from qianshu.privacy import parties

        parties.execute_deletion(session=session, clock=clock, row=row, actor=staff.user_id)
    row.status, row.resolution, row.closed_at = outcome, outcome, clock.now()
    row.resolution_note_enc = _seal(session, row.user_id, "resolution_note", row.id, note)
    row.assigned_to = row.assigned_to or staff.user_id
    add_step(
        session,
        clock,
        row,
        actor=staff.user_id,
        actor_role="staff",
        action=outcome,
        note=note,
        context=context,
    )
    if row.kind == "contract_deletion":
        from qianshu.privacy import parties

        parties.tell_parties(session=session, clock=clock, row=row)
    tell_status(session, clock, row)
    return to_read(session, clock, row, reveal=False)


# --- deadlines --------------------------------------------------------------------------------


def scan_deadlines(*, session: Session, clock: Clock, alert: bool = True) -> DeadlineScan:
    """Find open requests past or near their deadline; alert privacy officers once a day about them."""
    calendar = holidays.load_calendar(session=session)
    today = holidays.beijing_date(clock.now())
    warn = runtime_of(session).settings.privacy_request_warn_working_days
    rows = list(
        session.scalars(
            select(PrivacyRequest).where(
                PrivacyRequest.status.in_(ACTIVE_STATUSES), PrivacyRequest.due_on.is_not(None)
            )
        )
    )
    overdue, near, fresh = [], [], 0
    for row in rows:
        flag, _left = flag_of(calendar, row, today, warn)
        if flag == "overdue":
            overdue.append(row.id)
            if row.overdue_alerted_on != today:
                row.overdue_alerted_on, fresh = today, fresh + 1
        elif flag == "near_due":
            near.append(row.id)
            if row.near_due_alerted_on != today:
                row.near_due_alerted_on, fresh = today, fresh + 1
    session.flush()
    if alert and fresh:
        _alert_officers(session, clock, overdue=len(overdue), near_due=len(near))
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream="system",
            actor="system",
            action="privacy.requests_due_alert",
            data={"overdue": len(overdue), "near_due": len(near), "day": today.isoformat()},
        )
    return DeadlineScan(today=today, overdue=overdue, near_due=near)


def privacy_officers(*, session: Session) -> list[str]:
    """Return the ids of operators who hold the privacy-officer role (all operators in demo mode)."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy.centre_models import StaffRole

    ids = list(session.scalars(select(StaffRole.user_id).where(StaffRole.role == PRIVACY_OFFICER)))
    if not ids and runtime_of(session).settings.demo:
        users = accounts_service.list_users(session=session, limit=10_000)
        ids = [u.id for u in users if u.role == "operator" and u.status == "active"]
    return sorted(set(ids))


def _alert_officers(session: Session, clock: Clock, *, overdue: int, near_due: int) -> None:
    for officer in privacy_officers(session=session):
        notices.notify_user(
            session=session,
            clock=clock,
            user_id=officer,
            template="privacy_requests_due",
            params={"overdue": overdue, "near_due": near_due},
            prefer="email",
        )


def next_scan_time(now: datetime) -> datetime:
    """Return the next daily deadline scan (01:00 UTC, 09:00 in Beijing) after `now`."""
    slot = now.replace(hour=SCAN_HOUR_UTC, minute=0, second=0, microsecond=0)
    return slot if slot > now else slot + timedelta(days=1)


def ensure_scan_scheduled(*, session: Session, clock: Clock) -> str:
    """Queue the next daily deadline scan (once per day); return the job id."""
    from qianshu.jobs import service as jobs_service

    now = clock.now()
    run_at = next_scan_time(now)
    return jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=SCAN_JOB,
        payload={},
        delay=run_at - now,
        dedupe_key=f"{SCAN_JOB}:{run_at.date().isoformat()}",
    )


def role_label(role: str, locale: str = "zh-CN") -> str:
    """Return the display name of an operator sub-role."""
    names = ROLES.get(role, (role, role))
    return names[1] if locale.startswith("en") else names[0]
