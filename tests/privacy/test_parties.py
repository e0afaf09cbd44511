"""Contract-linked deletion (P8): every party of the object must agree before anything is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from qianshu.core.errors import Forbidden, NotFound
from qianshu.core.runtime import Runtime
from qianshu.privacy import parties
from qianshu.privacy import requests as requests_module
from qianshu.privacy.errors import RequestStateConflict
from tests.privacy.centre_support import (
    CHEAP_HASHING,
    Outbox,
    install_outbox,
    make_operator,
    register_user,
    staff_for,
)

PHONES = ("13800138101", "13800138102", "13800138103")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


@pytest.fixture
def people(runtime: Runtime, outbox: Outbox) -> list[str]:
    return [register_user(runtime, outbox, phone, name=None) for phone in PHONES]


@dataclass
class Contracts:
    """A stand-in owning domain: who is party to which object, and what it was asked to delete."""

    members: dict[str, list[str]] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def contracts() -> Iterator[Contracts]:
    """Register the object type `test_contract` (plain user ids as its parties)."""
    state = Contracts()

    def parties_of(*, session: Any, object_type: str, object_id: str) -> list[str] | None:
        return state.members.get(object_id)

    def execute(*, session: Any, clock: Any, object_type: str, object_id: str, requester: str) -> None:
        state.deleted.append((object_id, requester))

    parties.register_object_type("test_contract", parties=parties_of, execute=execute)
    yield state
    parties.unregister_object_type("test_contract")


def _ask(runtime: Runtime, outbox: Outbox, requester: str, phone: str, object_id: str = "ctr_1") -> str:
    with runtime.transaction() as s:
        challenge = requests_module.start_request(
            session=s,
            clock=runtime.clock,
            user_id=requester,
            kind="contract_deletion",
            object_type="test_contract",
            object_id=object_id,
            details="请删除合同中我的信息",
        )
    with runtime.transaction() as s:
        read = requests_module.confirm_request(
            session=s,
            clock=runtime.clock,
            user_id=requester,
            request_id=challenge.request_id,
            code=outbox.last_code(phone),
        )
    assert read.status == "awaiting_parties" and read.due_on is None
    return challenge.request_id


def test_deletion_waits_for_every_party_then_runs(
    runtime: Runtime, outbox: Outbox, people: list[str], contracts: Contracts
) -> None:
    contracts.members["ctr_1"] = list(people)
    a, b, c = people
    request_id = _ask(runtime, outbox, a, PHONES[0])
    assert outbox.templates(b) == ["privacy_party_consent"] and outbox.templates(c) == [
        "privacy_party_consent"
    ]
    with runtime.transaction() as s:
        read = parties.answer(
            session=s, clock=runtime.clock, user_id=b, request_id=request_id, decision="agree"
        )
        assert read.status == "awaiting_parties"
        assert {p.party_id: p.decision for p in read.parties} == {a: "agree", b: "agree", c: "pending"}
    officer = staff_for(
        runtime, make_operator(runtime, "dpo@example.com", ("privacy_officer",)), "requests.handle"
    )
    with runtime.transaction() as s, pytest.raises(RequestStateConflict):
        requests_module.assign_request(session=s, clock=runtime.clock, staff=officer, request_id=request_id)
    assert contracts.deleted == []
    with runtime.transaction() as s:
        read = parties.answer(
            session=s, clock=runtime.clock, user_id=c, request_id=request_id, decision="agree"
        )
        assert read.status == "open" and read.due_on is not None  # the deadline starts now
    with runtime.transaction() as s:
        requests_module.resolve_request(
            session=s,
            clock=runtime.clock,
            staff=officer,
            request_id=request_id,
            outcome="completed",
            note="已删除",
        )
    assert contracts.deleted == [("ctr_1", a)]
    with runtime.transaction() as s:
        for person in people:  # the outcome is shown to every party
            (seen,) = requests_module.list_requests(session=s, clock=runtime.clock, user_id=person)
            assert seen.status == "completed" and seen.id == request_id
            assert (seen.details is not None) == (person == a)  # only the requester reads their words
    assert outbox.templates(b)[-1] == "privacy_request_update"


def test_one_refusal_closes_the_request_and_nothing_is_deleted(
    runtime: Runtime, outbox: Outbox, people: list[str], contracts: Contracts
) -> None:
    contracts.members["ctr_1"] = list(people)
    a, b, c = people
    request_id = _ask(runtime, outbox, a, PHONES[0])
    with runtime.transaction() as s:
        parties.answer(session=s, clock=runtime.clock, user_id=b, request_id=request_id, decision="agree")
        read = parties.answer(
            session=s, clock=runtime.clock, user_id=c, request_id=request_id, decision="refuse"
        )
    assert read.status == "refused_by_party" and read.closed_at is not None
    with runtime.transaction() as s, pytest.raises(RequestStateConflict):
        parties.answer(session=s, clock=runtime.clock, user_id=b, request_id=request_id, decision="agree")
    assert contracts.deleted == []
    with runtime.transaction() as s:
        assert requests_module.get_request(
            session=s, clock=runtime.clock, user_id=b, request_id=request_id
        ).status == ("refused_by_party")


def test_only_parties_may_ask_or_answer(
    runtime: Runtime, outbox: Outbox, people: list[str], contracts: Contracts
) -> None:
    a, b, c = people
    contracts.members["ctr_1"] = [a, b]
    with runtime.transaction() as s, pytest.raises(Forbidden):
        requests_module.start_request(
            session=s,
            clock=runtime.clock,
            user_id=c,
            kind="contract_deletion",
            object_type="test_contract",
            object_id="ctr_1",
            details="x",
        )
    with runtime.transaction() as s, pytest.raises(NotFound):
        requests_module.start_request(
            session=s,
            clock=runtime.clock,
            user_id=a,
            kind="contract_deletion",
            object_type="test_contract",
            object_id="ctr_unknown",
            details="x",
        )
    request_id = _ask(runtime, outbox, a, PHONES[0])
    with runtime.transaction() as s, pytest.raises(NotFound):
        parties.answer(session=s, clock=runtime.clock, user_id=c, request_id=request_id, decision="agree")
