"""Reminders to waiting signers: every N days, once more before the deadline, and "remind now".

Only the signers whose turn it is (the active routing group, still waiting) are reminded, through
the same channel and link as the signing request (the link's token is kept encrypted in
`token_enc`). Each reminder is logged in `contracts_reminder` and recorded in the contract's audit
chain (`contract.reminded`).

Automatic reminders: a sent contract has one chain of `contracts.remind` jobs. A run reminds each
active signer who has heard nothing from us for `every_days` (never more often), sends the one
reminder before the deadline when its moment has come, and queues the next run at the earliest
moment another may be due (one job per contract and minute: `dedupe_key`). The sender's setting
per contract (`contracts_reminder_policy`) overrides the platform defaults
(`contract_reminder_days`, `contract_reminder_before_deadline_hours`).

Manual reminders ("remind now"): the sender, at most once per `contract_manual_reminder_minutes`
per recipient; sooner is a 429 with Retry-After.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.contracts import flow
from qianshu.contracts.errors import ContractState
from qianshu.contracts.models import Contract, ContractRecipient, ContractReminder, ContractReminderPolicy
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, RateLimited
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.jobs import service as jobs_service

__all__ = [
    "REMIND_JOB",
    "NothingToRemind",
    "ReminderPolicyIn",
    "ReminderPolicyRead",
    "ReminderTooSoon",
    "RemindersRead",
    "remind_now",
    "reminders_of",
    "run_reminders",
    "schedule_reminders",
    "set_reminder_policy",
]

log = get_logger("qianshu.contracts")

REMIND_JOB = "contracts.remind"
AUTO, DEADLINE, MANUAL, HANDOVER = "auto", "deadline", "manual", "handover"
_CHINA = ZoneInfo("Asia/Shanghai")
_MIN_STEP = timedelta(minutes=1)


class ReminderTooSoon(RateLimited):
    """The sender reminded this signer too recently."""

    slug = "contract-reminder-too-soon"
    title = "提醒过于频繁，请稍后再试"
    title_en = "This signer was reminded too recently"


class NothingToRemind(Conflict):
    """No signer is waiting for their turn, or the named one is not."""

    slug = "contract-nothing-to-remind"
    title = "当前没有需要提醒的签署方"
    title_en = "No signer is waiting to be reminded"


class ReminderPolicyIn(BaseModel):
    """The sender's reminder setting: every N days (0: off) and N hours before the deadline (0: off)."""

    model_config = ConfigDict(extra="forbid")

    every_days: int = Field(ge=0, le=30)
    before_deadline_hours: int = Field(default=24, ge=0, le=720)


class ReminderPolicyRead(BaseModel):
    """The reminder setting in force; `is_default` when the sender kept the platform's."""

    every_days: int
    before_deadline_hours: int
    is_default: bool


class ReminderRead(BaseModel):
    """One reminder sent."""

    recipient_id: str
    kind: str
    sent_at: datetime


class SkippedReminder(BaseModel):
    """A signer not reminded now: reminded too recently, `retry_after` seconds to wait."""

    recipient_id: str
    retry_after: int


class RemindRead(BaseModel):
    """What "remind now" did."""

    reminded: list[str]
    skipped: list[SkippedReminder]


class RemindersRead(BaseModel):
    """A contract's reminder setting and the reminders sent so far, oldest first."""

    policy: ReminderPolicyRead
    reminders: list[ReminderRead]
    manual_interval_minutes: int


# --- the setting -------------------------------------------------------------------------------


def _policy(session: Session, contract_id: str) -> ReminderPolicyRead:
    row = session.get(ContractReminderPolicy, contract_id)
    if row is not None:
        return ReminderPolicyRead(
            every_days=row.every_days, before_deadline_hours=row.before_deadline_hours, is_default=False
        )
    settings = runtime_of(session).settings
    return ReminderPolicyRead(
        every_days=settings.contract_reminder_days,
        before_deadline_hours=settings.contract_reminder_before_deadline_hours,
        is_default=True,
    )


def set_reminder_policy(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    contract_id: str,
    data: ReminderPolicyIn,
    context: RequestContext | None = None,
) -> RemindersRead:
    """Set the contract's automatic reminders (draft or sent); a sent contract's next run moves to fit."""
    row = flow.lock_owned(session, contract_id, owner_id)
    if row.status not in ("draft", "sent"):
        raise ContractState("合同已结束，不能再设置提醒", detail_en="The contract is finished", status_now=row.status)
    policy = session.get(ContractReminderPolicy, contract_id)
    if policy is None:
        policy = ContractReminderPolicy(contract_id=contract_id)
        session.add(policy)
    policy.every_days, policy.before_deadline_hours = data.every_days, data.before_deadline_hours
    policy.updated_at = clock.now()
    session.flush()
    flow.record(
        session,
        clock,
        contract_id,
        actor=owner_id,
        action="contract.reminders_set",
        data={"every_days": data.every_days, "before_deadline_hours": data.before_deadline_hours},
        context=context,
    )
    if row.status == "sent":
        schedule_reminders(session=session, clock=clock, contract_id=contract_id)
    return reminders_of(session=session, owner_id=owner_id, contract_id=contract_id)


def reminders_of(*, session: Session, owner_id: str, contract_id: str) -> RemindersRead:
    """Return the sender's contract's reminder setting and the reminders sent, oldest first."""
    flow.owned_row(session, contract_id, owner_id)
    rows = session.scalars(
        select(ContractReminder)
        .where(ContractReminder.contract_id == contract_id)
        .order_by(ContractReminder.sent_at, ContractReminder.id)
    )
    return RemindersRead(
        policy=_policy(session, contract_id),
        reminders=[ReminderRead(recipient_id=r.recipient_id, kind=r.kind, sent_at=r.sent_at) for r in rows],
        manual_interval_minutes=runtime_of(session).settings.contract_manual_reminder_minutes,
    )


# --- who is due, and when -------------------------------------------------------------------------


def _active(recipients: list[ContractRecipient]) -> list[ContractRecipient]:
    order = flow.active_order(recipients)
    return [r for r in recipients if r.role == "signer" and r.status == "waiting" and r.routing_order == order]


def _activated_at(row: Contract, recipients: list[ContractRecipient], r: ContractRecipient) -> datetime:
    """Return when the signer was asked to sign: at sending, or when the group before them finished."""
    assert row.sent_at is not None
    moments = [as_utc(row.sent_at)]
    moments += [
        as_utc(o.signed_at)
        for o in recipients
        if o.role == "signer" and o.routing_order < r.routing_order and o.signed_at is not None
    ]
    return max(moments)


def _log(session: Session, recipient_id: str) -> list[ContractReminder]:
    return list(
        session.scalars(
            select(ContractReminder)
            .where(ContractReminder.recipient_id == recipient_id)
            .order_by(ContractReminder.sent_at.desc(), ContractReminder.id)
        )
    )


def _last_heard(activated: datetime, log_rows: list[ContractReminder]) -> datetime:
    """Return the last time we wrote to the signer (asked to sign, reminded, or handed the link)."""
    return max([activated, *(as_utc(x.sent_at) for x in log_rows)])


def _due(
    row: Contract, policy: ReminderPolicyRead, activated: datetime, log_rows: list[ContractReminder]
) -> tuple[datetime | None, datetime | None]:
    """Return when the automatic reminder and the one before the deadline are due (None: never)."""
    auto = None
    if policy.every_days > 0:
        auto = _last_heard(activated, log_rows) + timedelta(days=policy.every_days)
    deadline = None
    if row.deadline is not None and policy.before_deadline_hours > 0:
        moment = as_utc(row.deadline) - timedelta(hours=policy.before_deadline_hours)
        already = any(x.kind == DEADLINE for x in log_rows)
        if not already and moment > activated:  # asked only after that moment: the request is the reminder
            deadline = moment
    if row.deadline is not None:  # nothing is due once the contract has expired
        end = as_utc(row.deadline)
        auto = auto if auto is not None and auto < end else None
        deadline = deadline if deadline is not None and deadline < end else None
    return auto, deadline


def schedule_reminders(
    *,
    session: Session,
    clock: Clock,
    contract_id: str,
    recipients: list[ContractRecipient] | None = None,
    at_sending: bool = False,
) -> str | None:
    """Queue the contract's next reminder run at the earliest moment one is due; return the job id.

    `recipients`: the contract's recipients as this transaction has them, when the caller holds them.
    `at_sending`: the contract is being sent right now, so nobody has been written to since.
    """
    row = flow.contract_row(session, contract_id)
    if row.status != "sent":
        return None
    policy = _policy(session, contract_id)
    if recipients is None:
        recipients = flow.recipients_of(session, contract_id)
    moments: list[datetime] = []
    for r in _active(recipients):
        log_rows = [] if at_sending else _log(session, r.id)
        auto, deadline = _due(row, policy, _activated_at(row, recipients, r), log_rows)
        moments += [m for m in (auto, deadline) if m is not None]
    if not moments:
        return None
    run_at = max(min(moments), clock.now() + _MIN_STEP).replace(second=0, microsecond=0) + _MIN_STEP
    return jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=REMIND_JOB,
        payload={"contract_id": contract_id},
        delay=run_at - clock.now(),
        dedupe_key=f"{REMIND_JOB}:{contract_id}:{run_at.strftime('%Y-%m-%dT%H:%M')}",
    )


# --- sending ----------------------------------------------------------------------------------


def _send(
    session: Session,
    clock: Clock,
    row: Contract,
    r: ContractRecipient,
    kind: str,
    *,
    actor: str,
    context: RequestContext | None = None,
) -> None:
    if r.token_enc is None:  # pragma: no cover - every recipient of a sent contract has a link
        return
    token = flow.open_text(session, table="contracts_recipient", column="token", row_id=r.id, blob=r.token_enc)
    if kind == DEADLINE:
        assert row.deadline is not None
        when = as_utc(row.deadline).astimezone(_CHINA).strftime("%Y-%m-%d %H:%M")
        flow.notify_recipient(session, clock, r, "contract_deadline_reminder", {"token": token, "deadline": when})
    else:
        flow.notify_recipient(session, clock, r, "contract_reminder", {"token": token})
    note_contact(session, clock, row.id, r.id, kind)
    flow.record(
        session,
        clock,
        row.id,
        actor=actor,
        action="contract.reminded",
        object_id=r.id,
        data={"kind": kind},
        context=context,
    )
    log.info("contract_reminded", contract_id=row.id, recipient_id=r.id, kind=kind)


def note_contact(session: Session, clock: Clock, contract_id: str, recipient_id: str, kind: str) -> None:
    """Log that we wrote to a signer (a reminder, or the link after a hand-over) for the intervals."""
    session.add(
        ContractReminder(
            id=new_id("rmd"), contract_id=contract_id, recipient_id=recipient_id, kind=kind, sent_at=clock.now()
        )
    )
    session.flush()


def run_reminders(*, session: Session, clock: Clock, contract_id: str) -> int:
    """Send the automatic reminders due now and queue the next run; return how many were sent."""
    row = flow.lock_contract(session, contract_id)
    now = clock.now()
    if row.status != "sent" or flow.is_overdue(row, now):
        return 0
    policy = _policy(session, contract_id)
    recipients = flow.recipients_of(session, contract_id)
    sent = 0
    for r in _active(recipients):
        auto, deadline = _due(row, policy, _activated_at(row, recipients, r), _log(session, r.id))
        if deadline is not None and deadline <= now:
            _send(session, clock, row, r, DEADLINE, actor="system")
            sent += 1
        elif auto is not None and auto <= now:
            _send(session, clock, row, r, AUTO, actor="system")
            sent += 1
    schedule_reminders(session=session, clock=clock, contract_id=contract_id)
    return sent


def remind_now(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    contract_id: str,
    recipient_id: str | None = None,
    context: RequestContext | None = None,
) -> RemindRead:
    """Remind the signers whose turn it is (or the one named) now, each at most once per interval."""
    row = flow.lock_owned(session, contract_id, owner_id)
    now = clock.now()
    if row.status != "sent" or flow.is_overdue(row, now):
        raise ContractState(
            "只有已发送且未结束的合同可以提醒签署",
            detail_en="Only a sent contract that is still open can be reminded",
            status_now=row.status,
        )
    targets = _active(flow.recipients_of(session, contract_id))
    if recipient_id is not None:
        targets = [r for r in targets if r.id == recipient_id]
        if not targets:
            raise NothingToRemind(
                "该签署方已处理或尚未轮到签署，无需提醒",
                detail_en="That signer has acted already or it is not their turn yet",
            )
    if not targets:
        raise NothingToRemind()
    interval = timedelta(minutes=runtime_of(session).settings.contract_manual_reminder_minutes)
    reminded: list[str] = []
    skipped: list[SkippedReminder] = []
    for r in targets:
        last = next((as_utc(x.sent_at) for x in _log(session, r.id) if x.kind == MANUAL), None)
        if last is not None and now < last + interval:
            wait = max(1, math.ceil((last + interval - now).total_seconds()))
            skipped.append(SkippedReminder(recipient_id=r.id, retry_after=wait))
            continue
        _send(session, clock, row, r, MANUAL, actor=owner_id, context=context)
        reminded.append(r.id)
    if not reminded:
        wait = min(s.retry_after for s in skipped)
        minutes = interval.total_seconds() / 60
        raise ReminderTooSoon(
            f"每位签署方每 {minutes:g} 分钟最多提醒一次，请 {math.ceil(wait / 60)} 分钟后再试",
            detail_en=f"Each signer can be reminded once every {minutes:g} minutes; try again in {wait} seconds",
            retry_after=wait,
        )
    return RemindRead(reminded=reminded, skipped=skipped)
