"""Micro-deposit check of the corporate account through the sandbox bank over real HTTP (A6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, LiveServer, User, problem

ACCOUNT = "6222020200112233"


def _start(user: User, org_id: str, account: str = ACCOUNT) -> Any:
    return user.api.post(
        f"/api/v1/orgs/{org_id}/bank/deposits",
        json={"bank_name": "中国工商银行福州分行", "account_number": account},
    )


def _confirm(user: User, org_id: str, amount: str) -> Any:
    return user.api.post(f"/api/v1/orgs/{org_id}/bank/deposits/confirm", json={"amount": amount})


def _wrong(amount: str) -> str:
    cents = round(float(amount) * 100)
    other = cents + 1 if cents < 99 else cents - 1
    return f"{other // 100}.{other % 100:02d}"


def test_deposit_travels_over_http_and_the_right_amount_verifies(
    live_flow: Flow, live_server: LiveServer, make_user: Any
) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    # The platform itself is reached over HTTP too: the whole step runs through the live server.
    headers = {"Authorization": f"Bearer {owner.token}"}
    r = httpx.post(
        f"{live_server.url}/api/v1/orgs/{org['id']}/bank/deposits",
        json={"bank_name": "中国工商银行福州分行", "account_number": "6222 0202 0011 2233"},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    deposit = r.json()
    assert deposit["status"] == "sent" and deposit["bank_account"] == "**** 2233"
    assert deposit["attempts_left"] == 3 and "amount" not in deposit
    lines = live_server.statement(ACCOUNT)
    assert len(lines) == 1
    assert lines[0]["memo"] == f"签署验证{deposit['memo_code']}"
    assert 0.01 <= float(lines[0]["amount"]) <= 0.99
    r = httpx.post(
        f"{live_server.url}/api/v1/orgs/{org['id']}/bank/deposits/confirm",
        json={"amount": lines[0]["amount"]},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    assert owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["bank"] == "verified"


def test_wrong_amounts_are_counted_and_lock_the_check(
    live_flow: Flow, live_server: LiveServer, make_user: Any, runtime: Runtime
) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    assert _start(owner, org["id"]).status_code == 201
    right = live_server.statement(ACCOUNT)[0]["amount"]
    body = problem(_confirm(owner, org["id"], _wrong(right)), 422, "deposit-mismatch")
    assert body["attempts_left"] == 2
    body = problem(_confirm(owner, org["id"], _wrong(right)), 422, "deposit-mismatch")
    assert body["attempts_left"] == 1
    problem(_confirm(owner, org["id"], _wrong(right)), 409, "deposit-locked")
    # Locked: even the right amount is refused now, and the attempt count did not move.
    problem(_confirm(owner, org["id"], right), 409, "deposit-locked")
    state = owner.api.get(f"/api/v1/orgs/{org['id']}/bank/deposit").json()
    assert state["status"] == "locked" and state["attempts_left"] == 0
    assert owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["bank"] == "locked"
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"org:{org['id']}")]
    assert "org.bank_check_locked" in actions and "org.bank_verified" not in actions
    # A new check can be started, with a new amount and fresh attempts.
    assert _start(owner, org["id"]).status_code == 201
    assert owner.api.get(f"/api/v1/orgs/{org['id']}/bank/deposit").json()["attempts_left"] == 3


def test_malformed_amounts_do_not_use_an_attempt(live_flow: Flow, live_server: LiveServer, make_user: Any) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    _start(owner, org["id"])
    for bad in ("abc", "0.001", "-1", "1e3", ""):
        r = _confirm(owner, org["id"], bad)
        assert r.status_code == 422, (bad, r.text)
    assert owner.api.get(f"/api/v1/orgs/{org['id']}/bank/deposit").json()["attempts_left"] == 3
    right = live_server.statement(ACCOUNT)[0]["amount"]
    assert _confirm(owner, org["id"], f"¥{right}").json()["status"] == "verified"


def test_deposit_expires(live_flow: Flow, live_server: LiveServer, make_user: Any, clock: FrozenClock) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    _start(owner, org["id"])
    right = live_server.statement(ACCOUNT)[0]["amount"]
    clock.advance(timedelta(hours=48, seconds=1))
    problem(_confirm(owner, org["id"], right), 409, "deposit-locked")


def test_bank_refusal_is_readable_and_writes_nothing(live_flow: Flow, live_server: LiveServer, make_user: Any) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    body = problem(_start(owner, org["id"], account="6222020200110000"), 422, "bank-rejected")
    assert body["reason"] == "account_closed"
    problem(_start(owner, org["id"], account="6222020200114040"), 422, "bank-rejected")
    assert owner.api.get(f"/api/v1/orgs/{org['id']}/bank/deposit").json() is None
    assert owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["bank"] == "missing"


def test_bad_account_numbers_never_reach_the_bank(live_flow: Flow, live_server: LiveServer, make_user: Any) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    for bad in ("12345", "6222-abc-0000", "1" * 31):
        problem(_start(owner, org["id"], account=bad), 422, "invalid-input")
    assert live_server.statement("12345") == []


def test_unreachable_bank_is_a_503_and_writes_nothing(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    runtime.settings.bank_url = "http://127.0.0.1:9/sandbox/bank"  # discard port: nothing listens
    owner = make_user()
    org = flow.create(owner)
    problem(_start(owner, org["id"]), 503, "bank-unavailable")
    assert owner.api.get(f"/api/v1/orgs/{org['id']}/bank/deposit").json() is None


def test_starts_per_day_are_limited(live_flow: Flow, live_server: LiveServer, make_user: Any) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    for _ in range(3):
        assert _start(owner, org["id"]).status_code == 201
    problem(_start(owner, org["id"]), 429, "rate-limited")


def test_transfer_is_in_the_sharing_register(
    live_flow: Flow, live_server: LiveServer, make_user: Any, runtime: Runtime
) -> None:
    from qianshu.privacy import service as privacy_service

    owner = make_user()
    org = live_flow.create(owner)
    deposit = _start(owner, org["id"]).json()
    with runtime.transaction() as s:
        shared = privacy_service.list_sharing(session=s, subject_id=org["id"])
    assert len(shared) == 1
    assert shared[0].recipient_kind == "bank" and shared[0].object_id == deposit["id"]
    assert "bank_account_number" in shared[0].fields


def test_sandbox_refuses_unsigned_and_badly_signed_orders(live_server: LiveServer) -> None:
    body = (
        b'{"reference":"dep_x","account_name":"a","account_number":"62220202001122","bank_name":"b",'
        b'"amount_cents":5,"currency":"CNY","memo":"m"}'
    )
    r = httpx.post(f"{live_server.url}/sandbox/bank/v1/transfers", content=body, timeout=10)
    problem(r, 401, "bank-signature-rejected")
    r = httpx.post(
        f"{live_server.url}/sandbox/bank/v1/transfers",
        content=body,
        headers={"X-Qianshu-Timestamp": "1767578400", "X-Qianshu-Signature": "0" * 64},
        timeout=10,
    )
    problem(r, 401, "bank-signature-rejected")


@pytest.mark.parametrize("settings_overrides", [{"sandbox": False, "password_hash_memory_kib": 1024}])
def test_sandbox_bank_is_absent_when_sandbox_is_off(client: Any) -> None:
    assert client.post("/sandbox/bank/v1/statement", json={"account_number": ACCOUNT}).status_code == 404
    assert client.get("/sandbox/bank").status_code == 404
