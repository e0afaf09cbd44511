"""Bulk send at the issue's size: 200 rows, processed batch by batch, every row one sent contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.contracts.test_bulk import CSV, SENDER, _csv, _template
from tests.support.sandbox import SmsSandbox, running_sms_sandbox


@pytest.fixture
def sms_sandbox(clock: FrozenClock) -> Iterator[SmsSandbox]:
    """The sandbox SMS provider on loopback, so the 200 signing requests are really delivered."""
    with running_sms_sandbox(clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], db_backend: str, sms_sandbox: SmsSandbox) -> dict[str, Any]:
    if db_backend == "postgres":
        pytest.skip("the 200-row run is checked once, on SQLite")
    return {
        **settings_overrides,
        "contract_bulk_batch_rows": 50,
        "contract_bulk_max_rows": 500,
        "sms_url": sms_sandbox.url,
    }


def test_bulk_send_of_200_rows_reports_progress_and_finishes(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, run_jobs: Callable[[], int]
) -> None:
    from qianshu.contracts import service as contracts_service
    from qianshu.jobs import service as jobs_service

    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    rows = [f"客户{i},139{i:08d},,甲公司,客户{i},年度服务" for i in range(200)]
    data = _csv("name,phone,email,甲方,乙方,事项", *rows).encode("utf-8")
    r = sender.post(f"/api/v1/templates/{tpl}/bulk-sends", content=data, headers={"content-type": CSV})
    assert r.status_code == 202, r.text
    bulk = r.json()
    assert bulk["total"] == 200 and bulk["done"] == 0
    seen = []
    while True:
        with runtime.transaction() as s:
            step = contracts_service.process_bulk_send(session=s, clock=runtime.clock, bulk_id=bulk["id"])
        progress = sender.get(f"/api/v1/bulk-sends/{bulk['id']}").json()
        if not step:
            break
        seen.append(progress["done"])
    assert seen == [50, 100, 150, 200] and progress["status"] == "done"
    assert progress["succeeded"] == 200 and progress["failed"] == 0
    assert len({x["contract_id"] for x in progress["results"]}) == 200
    page = sender.get(f"/bulk-sends/{bulk['id']}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert '<progress max="200" value="200"' in page.text
    assert '<p id="progress-text" role="status">已处理 200 / 200 行 · 成功发起 200 份，失败 0 行</p>' in page.text
    assert 'id="bad-rows"' not in page.text and 'http-equiv="refresh"' not in page.text

    # the signing requests go out; run the queue until it is empty and check that no job failed
    for _ in range(20):
        if not run_jobs():
            break
    else:
        pytest.fail("jobs kept coming after 20 rounds")
    with runtime.transaction() as s:
        jobs = jobs_service.list_jobs(session=s, limit=10_000)
    assert [(j.kind, j.status) for j in jobs if j.status == "dead" or j.last_error is not None] == []
    delivered = [j for j in jobs if j.kind == "notify.deliver"]
    assert len(delivered) >= 200 and all(j.status == "done" for j in delivered)
