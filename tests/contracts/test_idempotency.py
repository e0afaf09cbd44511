"""Idempotent contract creation keeps no copy of the answer, replays from the contract, and is forgotten."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from qianshu.contracts.models import IdempotencyRecord
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.contracts.integrator_support import contract_body, upload

OWNER = "13900139000"
TITLE = "张三丰的房屋租赁合同"  # a title that names a person


def _records(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.transaction() as s:
        return [dict(row._mapping) for row in s.execute(select(IdempotencyRecord.__table__))]


def test_record_keeps_no_title_and_replay_returns_the_same_body(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime
) -> None:
    make_person(OWNER)
    owner = api(OWNER)
    body = {**contract_body(upload(owner, runtime)), "title": TITLE}
    headers = {"Idempotency-Key": "order-7"}
    first = owner.post("/api/v1/contracts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["title"] == TITLE

    (record,) = _records(runtime)
    assert set(record) == {"id", "owner_id", "key_hash", "request_sha256", "contract_id", "created_at"}
    assert record["contract_id"] == first.json()["id"]
    stored = repr(record)
    assert TITLE not in stored and "张三丰" not in stored and "order-7" not in stored
    assert "13800138001" not in stored

    again = owner.post("/api/v1/contracts", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(owner.get("/api/v1/contracts").json()["items"]) == 1


def test_the_daily_sweep_forgets_records_older_than_a_day(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, clock: FrozenClock
) -> None:
    from qianshu.contracts import service as contracts_service

    make_person(OWNER)
    owner = api(OWNER)
    doc = upload(owner, runtime)
    assert owner.post("/api/v1/contracts", json=contract_body(doc), headers={"Idempotency-Key": "a"}).status_code == 201
    clock.advance(timedelta(hours=23))
    assert owner.post("/api/v1/contracts", json=contract_body(doc), headers={"Idempotency-Key": "b"}).status_code == 201
    with runtime.transaction() as s:
        contracts_service.retention_sweep(session=s, clock=runtime.clock)
    assert len(_records(runtime)) == 2  # both younger than 24 hours

    clock.advance(timedelta(hours=2))  # "a" is 25 hours old, "b" 2 hours
    with runtime.transaction() as s:
        contracts_service.retention_sweep(session=s, clock=runtime.clock)
    (left,) = _records(runtime)
    replay = owner.post("/api/v1/contracts", json=contract_body(doc), headers={"Idempotency-Key": "b"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == left["contract_id"]
