"""Requests with deadlines (P6): identity re-check by code, working-day deadlines, flags, alerts, roles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.runtime import Runtime
from qianshu.privacy import requests as requests_module
from qianshu.privacy import staff as staff_module
from qianshu.privacy.errors import RequestNotFound, RequestStateConflict, StaffRoleRequired
from tests.privacy.centre_support import (
    CHEAP_HASHING,
    Outbox,
    install_outbox,
    make_operator,
    register_user,
    staff_for,
)

PHONE = "13800138001"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


@pytest.fixture
def clock() -> FrozenClock:
    # Monday 2026-02-09, 10:00 in Beijing: the Spring Festival holiday (15-23 Feb) lies ahead.
    return FrozenClock(datetime(2026, 2, 9, 2, 0, tzinfo=UTC))


def _open_request(runtime: Runtime, outbox: Outbox, user_id: str, kind: str = "deletion") -> str:
    with runtime.transaction() as s:
        challenge = requests_module.start_request(
            session=s, clock=runtime.clock, user_id=user_id, kind=kind, details="请删除我的称呼"
        )
    with runtime.transaction() as s:
        requests_module.confirm_request(
            session=s,
            clock=runtime.clock,
            user_id=user_id,
            request_id=challenge.request_id,
            code=outbox.last_code(PHONE),
        )
    return challenge.request_id


def test_request_counts_only_after_the_code_and_its_deadline_skips_the_holiday(
    runtime: Runtime, outbox: Outbox
) -> None:
    user = register_user(runtime, outbox, PHONE)
    with runtime.transaction() as s:
        challenge = requests_module.start_request(
            session=s, clock=runtime.clock, user_id=user, kind="deletion", details="请删除我的称呼"
        )
        assert challenge.channel == "phone" and challenge.sent_to == "138****8001"
    assert outbox.sent[-1].template == "privacy_otp"
    with runtime.transaction() as s:
        pending = requests_module.get_request(
            session=s, clock=runtime.clock, user_id=user, request_id=challenge.request_id
        )
        assert pending.status == "awaiting_code" and pending.due_on is None
    with runtime.transaction() as s, pytest.raises(QianshuError):
        requests_module.confirm_request(
            session=s, clock=runtime.clock, user_id=user, request_id=challenge.request_id, code="000000"
        )
    with runtime.transaction() as s:
        done = requests_module.confirm_request(
            session=s,
            clock=runtime.clock,
            user_id=user,
            request_id=challenge.request_id,
            code=outbox.last_code(PHONE),
        )
    # Received Mon 9 Feb; 10-13 Feb (4), 14 Feb Saturday make-up day (5), 15-23 Feb off,
    # 24-27 Feb (9), 28 Feb Saturday make-up day (10), 2-6 Mar (15).
    assert done.status == "open" and done.due_on == date(2026, 3, 6) and done.working_days == 15
    assert done.details == "请删除我的称呼"
    assert [s.action for s in done.steps] == ["submitted", "verified"]
    with runtime.transaction() as s, pytest.raises(RequestStateConflict):
        requests_module.confirm_request(
            session=s, clock=runtime.clock, user_id=user, request_id=challenge.request_id, code="123456"
        )


def test_someone_else_cannot_see_or_confirm_the_request(runtime: Runtime, outbox: Outbox) -> None:
    user = register_user(runtime, outbox, PHONE)
    other = register_user(runtime, outbox, "13800138002", name="李四")
    request_id = _open_request(runtime, outbox, user)
    with runtime.transaction() as s, pytest.raises(RequestNotFound):
        requests_module.get_request(session=s, clock=runtime.clock, user_id=other, request_id=request_id)
    with runtime.transaction() as s, pytest.raises(RequestNotFound):
        requests_module.withdraw_request(session=s, clock=runtime.clock, user_id=other, request_id=request_id)


def test_bad_requests_are_refused_before_any_code_is_sent(runtime: Runtime, outbox: Outbox) -> None:
    user = register_user(runtime, outbox, PHONE)
    before = len(outbox.sent)
    with runtime.transaction() as s:
        for kwargs in (
            {"kind": "party"},
            {"kind": "correction", "field": "shoe_size"},
            {"kind": "complaint"},
            {"kind": "contract_deletion"},
        ):
            with pytest.raises(InvalidInput):
                requests_module.start_request(session=s, clock=runtime.clock, user_id=user, **kwargs)
    assert len(outbox.sent) == before


def test_requests_are_flagged_near_and_past_their_deadline_and_officers_alerted_once_a_day(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE)
    officer = make_operator(runtime, "dpo@example.com", roles=("privacy_officer",))
    request_id = _open_request(runtime, outbox, user)
    with runtime.transaction() as s:
        (item,) = requests_module.list_queue(session=s, clock=clock)
        assert (item.id, item.flag, item.working_days_left) == (request_id, "none", 15)
    clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))  # Tuesday: 3 working days left
    with runtime.transaction() as s:
        (item,) = requests_module.list_queue(session=s, clock=clock)
        assert (item.flag, item.working_days_left) == ("near_due", 3)
        scan = requests_module.scan_deadlines(session=s, clock=clock)
        assert scan.near_due == [request_id] and scan.overdue == []
    assert outbox.templates(officer.user_id) == ["privacy_requests_due"]
    with runtime.transaction() as s:
        requests_module.scan_deadlines(session=s, clock=clock)  # same day: no second alert
    assert outbox.templates(officer.user_id) == ["privacy_requests_due"]
    clock.set(datetime(2026, 3, 9, 2, 0, tzinfo=UTC))  # Monday after the Friday deadline
    with runtime.transaction() as s:
        (item,) = requests_module.list_queue(session=s, clock=clock)
        assert (item.flag, item.working_days_left) == ("overdue", -1)
        scan = requests_module.scan_deadlines(session=s, clock=clock)
        assert scan.overdue == [request_id]
    assert outbox.sent[-1].template == "privacy_requests_due"
    assert outbox.sent[-1].params == {"overdue": 1, "near_due": 0}


def test_the_daily_scan_job_runs_and_requeues_itself(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, run_jobs: Any
) -> None:
    user = register_user(runtime, outbox, PHONE)
    _open_request(runtime, outbox, user)
    clock.advance(timedelta(days=1))
    run_jobs()
    from qianshu.jobs import service as jobs_service

    with runtime.transaction() as s:
        scans = [j for j in jobs_service.list_jobs(session=s) if j.kind == requests_module.SCAN_JOB]
        assert {j.status for j in scans} >= {"done", "queued"}


def test_operators_need_the_right_sub_role(runtime: Runtime, outbox: Outbox) -> None:
    user = register_user(runtime, outbox, PHONE)
    request_id = _open_request(runtime, outbox, user)
    support = make_operator(runtime, "support@example.com", roles=("support",))
    nobody = make_operator(runtime, "new@example.com")
    with runtime.transaction() as s, pytest.raises(StaffRoleRequired):
        staff_module.require_permission(session=s, principal=nobody, permission="requests.view")
    supporter = staff_for(runtime, support, "requests.view")
    with runtime.transaction() as s, pytest.raises(StaffRoleRequired):
        requests_module.resolve_request(
            session=s, clock=runtime.clock, staff=supporter, request_id=request_id, outcome="completed"
        )


def test_an_officer_answers_and_the_person_sees_every_step(runtime: Runtime, outbox: Outbox) -> None:
    user = register_user(runtime, outbox, PHONE)
    request_id = _open_request(runtime, outbox, user)
    officer = staff_for(
        runtime, make_operator(runtime, "dpo@example.com", ("privacy_officer",)), "requests.handle"
    )
    with runtime.transaction() as s:
        seen = requests_module.get_request_for_staff(
            session=s, clock=runtime.clock, staff=officer, request_id=request_id
        )
        assert seen.details is None  # masked until a reason is given
        requests_module.assign_request(session=s, clock=runtime.clock, staff=officer, request_id=request_id)
        with pytest.raises(InvalidInput):
            requests_module.resolve_request(
                session=s, clock=runtime.clock, staff=officer, request_id=request_id, outcome="rejected"
            )
    with runtime.transaction() as s:
        revealed = requests_module.get_request_for_staff(
            session=s, clock=runtime.clock, staff=officer, request_id=request_id, reason="request_handling"
        )
        assert revealed.details == "请删除我的称呼"
        requests_module.resolve_request(
            session=s,
            clock=runtime.clock,
            staff=officer,
            request_id=request_id,
            outcome="completed",
            note="已删除",
        )
    with runtime.transaction() as s:
        mine = requests_module.get_request(
            session=s, clock=runtime.clock, user_id=user, request_id=request_id
        )
        accesses = staff_module.list_staff_access(session=s, subject_id=user)
    assert mine.status == "completed" and mine.resolution_note == "已删除" and mine.flag == "none"
    assert [st.action for st in mine.steps] == ["submitted", "verified", "assigned", "completed"]
    assert [a.reason for a in accesses] == ["request_handling"]
    assert "privacy_request_update" in outbox.templates(user)
    with runtime.transaction() as s, pytest.raises(RequestStateConflict):
        requests_module.withdraw_request(session=s, clock=runtime.clock, user_id=user, request_id=request_id)


def test_every_step_is_on_the_audit_trail(runtime: Runtime, outbox: Outbox) -> None:
    from qianshu.evidence import service as evidence_service

    user = register_user(runtime, outbox, PHONE)
    request_id = _open_request(runtime, outbox, user)
    with runtime.transaction() as s:
        requests_module.withdraw_request(session=s, clock=runtime.clock, user_id=user, request_id=request_id)
        actions = [
            e.action
            for e in evidence_service.list_events(session=s, stream=f"user:{user}")
            if e.object_id == request_id
        ]
        assert evidence_service.verify_chains(session=s).ok
    assert actions == ["privacy.request_submitted", "privacy.request_verified", "privacy.request_withdrawn"]
