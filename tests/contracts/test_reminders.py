"""Reminders: automatic every N days and once before the deadline, "remind now" rate-limited, audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from qianshu.contracts import service as contracts_service
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent
from tests.contracts.test_api import _problem, _sent, _signer

SENDER, SIGNER, OTHER = "13900139000", "13800138001", "13800138002"


def _count(sent: Sent, to: str, template: str) -> int:
    return sum(1 for m in sent.items if m.get("phone") == to and m["template"] == template)


def _reminded_events(runtime: Runtime, contract_id: str, owner: str) -> list[dict[str, Any]]:
    with runtime.transaction() as s:
        events = contracts_service.contract_events(session=s, contract_id=contract_id, owner_id=owner)
    return [{"object_id": e.object_id, **e.data} for e in events if e.action == "contract.reminded"]


def _owner(runtime: Runtime, phone: str) -> str:
    from qianshu.accounts import service as accounts_service

    with runtime.transaction() as s:
        user = accounts_service.find_user(session=s, phone=phone)
    assert user is not None
    return user.id


def _with_deadline(c: Any, signers: list[dict[str, Any]], deadline: str | None) -> tuple[str, dict[str, str]]:
    from tests.contracts.test_api import _document

    created = c.post(
        "/api/v1/contracts", json={"document_id": _document(c), "recipients": signers, "deadline": deadline}
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    sent = c.post(f"/api/v1/contracts/{contract_id}/send")
    assert sent.status_code == 200, sent.text
    return contract_id, {link["recipient_id"]: link["url"] for link in sent.json()["links"]}


def test_automatic_reminders_every_interval_then_once_before_the_deadline(
    api: Callable[..., Any],
    make_person: Callable[..., str],
    sent: Sent,
    clock: FrozenClock,
    runtime: Runtime,
    run_jobs: Callable[[], int],
) -> None:
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    deadline = (clock.now() + timedelta(days=5)).isoformat()
    contract_id, _links = _with_deadline(sender, [_signer(SIGNER, 1, 90), _signer(OTHER, 2, 170)], deadline)
    policy = sender.get(f"/api/v1/contracts/{contract_id}/reminders").json()["policy"]
    assert policy == {"every_days": 2, "before_deadline_hours": 24, "is_default": True}

    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 0
    clock.advance(timedelta(days=1, hours=23))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 0  # not before the interval
    clock.advance(timedelta(hours=1, minutes=5))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 1
    assert _count(sent, OTHER, "contract_reminder") == 0  # not their turn yet: never reminded
    message = sent.last(SIGNER, "contract_reminder")
    assert message["params"]["token"] == _links_token(runtime, contract_id, SIGNER)
    clock.advance(timedelta(days=1))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 1  # at most once per interval

    # one day before the deadline (day 4): the deadline reminder, once
    clock.advance(timedelta(days=1))
    run_jobs()
    assert _count(sent, SIGNER, "contract_deadline_reminder") == 1
    assert sent.last(SIGNER, "contract_deadline_reminder")["params"]["deadline"]
    clock.advance(timedelta(hours=20))
    run_jobs()
    assert _count(sent, SIGNER, "contract_deadline_reminder") == 1
    assert _count(sent, SIGNER, "contract_reminder") == 1  # the next one would fall after the deadline

    owner = _owner(runtime, SENDER)
    events = _reminded_events(runtime, contract_id, owner)
    assert [e["kind"] for e in events] == ["auto", "deadline"]
    history = sender.get(f"/api/v1/contracts/{contract_id}/reminders").json()["reminders"]
    assert [h["kind"] for h in history] == ["auto", "deadline"]

    # after the deadline the contract expires and the chain stops
    clock.advance(timedelta(days=5))
    run_jobs()
    assert sender.get(f"/api/v1/contracts/{contract_id}").json()["status"] == "expired"
    assert _count(sent, SIGNER, "contract_reminder") == 1


def _links_token(runtime: Runtime, contract_id: str, phone: str) -> str:
    with runtime.transaction() as s:
        owner = _owner(runtime, SENDER)
        contract = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner)
        from qianshu.contracts.flow import open_text, recipients_of

        for r in recipients_of(s, contract.id):
            contact = open_text(s, table="contracts_recipient", column="contact", row_id=r.id, blob=r.contact_enc)
            if contact == phone and r.token_enc is not None:
                return open_text(s, table="contracts_recipient", column="token", row_id=r.id, blob=r.token_enc)
    raise AssertionError("no such recipient")


def test_reminder_setting_turns_automatic_reminders_off_or_changes_the_interval(
    api: Callable[..., Any],
    make_person: Callable[..., str],
    sent: Sent,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
) -> None:
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    contract_id, _ = _sent(sender, [_signer(SIGNER)])
    _problem(sender.put(f"/api/v1/contracts/{contract_id}/reminders", json={"every_days": 99}), 422)
    r = sender.put(f"/api/v1/contracts/{contract_id}/reminders", json={"every_days": 0, "before_deadline_hours": 0})
    assert r.status_code == 200 and r.json()["policy"]["is_default"] is False
    clock.advance(timedelta(days=10))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 0
    r = sender.put(f"/api/v1/contracts/{contract_id}/reminders", json={"every_days": 1})
    assert r.status_code == 200
    clock.advance(timedelta(minutes=2))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 1  # ten days without a word: due at the next minute
    clock.advance(timedelta(hours=23))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 1
    clock.advance(timedelta(hours=1, minutes=5))
    run_jobs()
    assert _count(sent, SIGNER, "contract_reminder") == 2
    make_person(OTHER, verified=False)
    _problem(api(OTHER).put(f"/api/v1/contracts/{contract_id}/reminders", json={"every_days": 1}), 404)


def test_remind_now_is_limited_per_recipient_and_audited(
    api: Callable[..., Any],
    make_person: Callable[..., str],
    sent: Sent,
    clock: FrozenClock,
    runtime: Runtime,
) -> None:
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    contract_id, _ = _sent(sender, [_signer(SIGNER, 1, 90), _signer(OTHER, 2, 170)])
    recipients = sender.get(f"/api/v1/contracts/{contract_id}").json()["recipients"]
    first, second = (r["id"] for r in sorted(recipients, key=lambda r: r["routing_order"]))

    r = sender.post(f"/api/v1/contracts/{contract_id}/remind")
    assert r.status_code == 200 and r.json() == {"reminded": [first], "skipped": []}
    assert _count(sent, SIGNER, "contract_reminder") == 1
    again = sender.post(f"/api/v1/contracts/{contract_id}/remind")
    body = _problem(again, 429, "contract-reminder-too-soon")
    assert again.headers["retry-after"] == "3600" and body["retry_after"] == 3600
    assert _count(sent, SIGNER, "contract_reminder") == 1
    _problem(sender.post(f"/api/v1/contracts/{contract_id}/remind", params={"recipient_id": second}), 409)
    clock.advance(timedelta(minutes=59))
    assert sender.post(f"/api/v1/contracts/{contract_id}/remind").headers["retry-after"] == "60"
    clock.advance(timedelta(minutes=1))
    r = sender.post(f"/api/v1/contracts/{contract_id}/remind", params={"recipient_id": first})
    assert r.status_code == 200 and r.json()["reminded"] == [first]
    assert _count(sent, SIGNER, "contract_reminder") == 2

    events = _reminded_events(runtime, contract_id, _owner(runtime, SENDER))
    assert [(e["object_id"], e["kind"]) for e in events] == [(first, "manual"), (first, "manual")]

    # only the sender, only a sent contract
    make_person(OTHER, verified=False)
    _problem(api(OTHER).post(f"/api/v1/contracts/{contract_id}/remind"), 404, "contract-not-found")
    _problem(api().post(f"/api/v1/contracts/{contract_id}/remind"), 401)
    assert sender.post(f"/api/v1/contracts/{contract_id}/revoke", json={"reason": "不再需要"}).status_code == 200
    _problem(sender.post(f"/api/v1/contracts/{contract_id}/remind"), 409, "contract-state")
