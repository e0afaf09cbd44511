"""The retention sweep (P13) on privacy requests: closed ones lose their words, unconfirmed ones go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.privacy import requests as requests_module
from qianshu.privacy import retention
from qianshu.privacy.centre_models import PrivacyRequest, RequestStep
from qianshu.privacy.errors import RequestNotFound
from tests.privacy.centre_support import (
    CHEAP_HASHING,
    Outbox,
    install_outbox,
    make_operator,
    register_user,
    staff_for,
)

PHONE = "13800138401"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def test_closed_requests_are_anonymised_after_their_period_and_unconfirmed_ones_dropped(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = register_user(runtime, outbox, PHONE)
    with runtime.transaction() as s:
        answered = requests_module.start_request(
            session=s, clock=clock, user_id=user, kind="deletion", details="请删除我的称呼"
        ).request_id
    with runtime.transaction() as s:
        requests_module.confirm_request(
            session=s, clock=clock, user_id=user, request_id=answered, code=outbox.last_code(PHONE)
        )
    officer = staff_for(runtime, make_operator(runtime, "dpo@example.com", ("privacy_officer",)), "requests.handle")
    with runtime.transaction() as s:
        requests_module.resolve_request(
            session=s, clock=clock, staff=officer, request_id=answered, outcome="completed", note="已删除称呼"
        )
    closed_at = clock.now()
    with runtime.transaction() as s:
        never = requests_module.start_request(
            session=s, clock=clock, user_id=user, kind="complaint", details="没有验证的投诉"
        ).request_id

    clock.advance(timedelta(hours=23))
    with runtime.transaction() as s:
        assert retention.run_sweep(session=s, clock=clock)["unconfirmed_requests_dropped"] == 0
    clock.advance(timedelta(hours=2))  # more than a day without the code: it never counted
    with runtime.transaction() as s:
        assert retention.run_sweep(session=s, clock=clock)["unconfirmed_requests_dropped"] == 1
        assert s.get(PrivacyRequest, never) is None
        with pytest.raises(RequestNotFound):
            requests_module.get_request(session=s, clock=clock, user_id=user, request_id=never)

    days = runtime.settings.privacy_closed_request_retention_days
    clock.set(closed_at + timedelta(days=days) - timedelta(minutes=1))
    with runtime.transaction() as s:
        assert retention.run_sweep(session=s, clock=clock)["requests_anonymised"] == 0
        read = requests_module.get_request(session=s, clock=clock, user_id=user, request_id=answered)
        assert read.details == "请删除我的称呼" and read.resolution_note == "已删除称呼"
    clock.set(closed_at + timedelta(days=days, minutes=1))
    with runtime.transaction() as s:
        assert retention.run_sweep(session=s, clock=clock)["requests_anonymised"] == 1
        row = s.get(PrivacyRequest, answered)
        assert row is not None and row.details_enc is None and row.resolution_note_enc is None
        assert all(step.note_enc is None for step in s.query(RequestStep).filter_by(request_id=answered))
        # the record of answering stays: kind, status, deadline and steps
        read = requests_module.get_request(session=s, clock=clock, user_id=user, request_id=answered)
        assert read.status == "completed" and read.details is None and read.resolution_note is None
        assert [step.action for step in read.steps][-1] == "completed"
        events = evidence_service.list_events(session=s, stream="system")
        swept = [e for e in events if e.action == "privacy.retention_swept"]
        assert swept[-1].data["requests_anonymised"] == 1
        assert swept[0].data["unconfirmed_requests_dropped"] == 1
