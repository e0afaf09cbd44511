"""Bulk send: a CSV against a template, one contract per good row, bad rows reported by line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import structlog.testing

from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent
from tests.contracts.test_api import BODY, _problem

SENDER = "13900139000"
CSV = "text/csv"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "contract_bulk_batch_rows": 2, "contract_bulk_max_rows": 6}


def _template(c: Any) -> str:
    r = c.post("/api/v1/templates", json={"title": "服务合同", "body": BODY})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _csv(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


GOOD_AND_BAD = _csv(
    "name,phone,email,甲方,乙方,事项",
    "李四,13800138001,,甲公司,李四,软件开发",  # line 2: good
    "王五,1380013,,甲公司,王五,软件开发",  # line 3: bad phone
    "赵六,13800138003,,甲公司,赵六,",  # line 4: missing variable
    "",  # a blank line is skipped (line 5)
    "钱七,,qian@example.com,甲公司,钱七,测试服务",  # line 6: good, by e-mail
    "孙八,,,甲公司,孙八,咨询",  # line 7: no contact
)


def test_bulk_send_creates_good_rows_and_reports_bad_ones_with_progress(
    api: Callable[..., Any], make_person: Callable[..., str], sent: Sent, runtime: Runtime, run_jobs: Callable[[], int]
) -> None:
    from qianshu.contracts import service as contracts_service

    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    data = b"\xef\xbb\xbf" + GOOD_AND_BAD.encode("utf-8")  # UTF-8 with BOM, as Excel saves it
    r = sender.post(f"/api/v1/templates/{tpl}/bulk-sends", content=data, headers={"content-type": CSV})
    assert r.status_code == 202, r.text
    bulk = r.json()
    assert bulk["status"] == "queued" and bulk["total"] == 5 and bulk["done"] == 0

    # one batch (two rows) at a time: the progress shows in between
    with runtime.transaction() as s:
        assert contracts_service.process_bulk_send(session=s, clock=runtime.clock, bulk_id=bulk["id"]) == 2
    mid = sender.get(f"/api/v1/bulk-sends/{bulk['id']}").json()
    assert mid["status"] == "running" and mid["done"] == 2 and mid["succeeded"] == 1

    run_jobs()
    done = sender.get(f"/api/v1/bulk-sends/{bulk['id']}").json()
    assert done["status"] == "done" and done["done"] == 5 and done["finished_at"]
    assert [x["line"] for x in done["results"]] == [2, 6] and done["succeeded"] == 2
    reasons = {e["line"]: e["reason"] for e in done["errors"]}
    assert sorted(reasons) == [3, 4, 7] and done["failed"] == 3
    assert "手机号格式不正确" in reasons[3]
    assert "缺少模板变量" in reasons[4] and "事项" in reasons[4]
    assert "缺少手机号或邮箱" in reasons[7]

    # each good row is a sent contract made from the template; its signer was asked to sign
    for result in done["results"]:
        contract = sender.get(f"/api/v1/contracts/{result['contract_id']}").json()
        assert contract["status"] == "sent" and contract["fields"][0]["kind"] == "signature"
    titles = {sender.get(f"/api/v1/contracts/{x['contract_id']}").json()["title"] for x in done["results"]}
    assert titles == {"服务合同（李四）", "服务合同（钱七）"}
    assert sent.last("13800138001", "contract_sign_request")
    assert [m for m in sent.items if m.get("email") == "qian@example.com"]
    assert not [m for m in sent.items if m.get("phone") == "13800138003"]
    assert [b["id"] for b in sender.get("/api/v1/bulk-sends").json()] == [bulk["id"]]


def test_gbk_csv_is_read(api: Callable[..., Any], make_person: Callable[..., str], run_jobs: Callable[[], int]) -> None:
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    data = _csv("姓名,手机号,甲方,乙方,事项", "李四,13800138001,甲公司,李四,软件开发").encode("gbk")
    r = sender.post(f"/api/v1/templates/{tpl}/bulk-sends", content=data, headers={"content-type": CSV})
    assert r.status_code == 202, r.text
    run_jobs()
    done = sender.get(f"/api/v1/bulk-sends/{r.json()['id']}").json()
    assert done["succeeded"] == 1 and done["errors"] == []
    title = sender.get(f"/api/v1/contracts/{done['results'][0]['contract_id']}").json()["title"]
    assert title == "服务合同（李四）"


def test_unusable_files_are_refused_whole_and_create_nothing(
    api: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    url = f"/api/v1/templates/{tpl}/bulk-sends"

    def post(data: bytes, content_type: str = CSV) -> Any:
        return sender.post(url, content=data, headers={"content-type": content_type})

    bad = "contract-bulk-file-invalid"
    body = _problem(post(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), 422, bad)
    assert "不是 CSV" in body["detail"]
    _problem(post(b"PK\x03\x04\x14\x00\x06\x00"), 422, bad)  # an .xlsx
    _problem(post(b""), 422, bad)
    _problem(post(b"name,phone\n"), 422, bad)  # the template's variable columns are missing
    body = _problem(post(_csv("name,甲方,乙方,事项", "x,a,b,c").encode()), 422, bad)
    assert "phone" in body["detail"]
    body = _problem(post(_csv("phone,甲方,乙方,事项").encode()), 422, bad)  # no data rows
    rows = [f"1380013800{i},a,b,c" for i in range(7)]
    body = _problem(post(_csv("phone,甲方,乙方,事项", *rows).encode()), 422, bad)
    assert "最多发起 6 份" in body["detail"]
    _problem(post(_csv("phone,phone,甲方,乙方,事项", "1,1,a,b,c").encode()), 422, bad)
    _problem(post(b"phone,x\n\xff\xfe\xfa", CSV), 422, bad)  # neither UTF-8 nor GBK
    _problem(post(b"phone\n", "application/pdf"), 400)
    _problem(post(b"x" * (1024 * 1024 + 1)), 413, "contract-bulk-too-large")
    _problem(
        sender.post(
            "/api/v1/templates/tpl_aaaaaaaaaaaaaaaaaaaa/bulk-sends",
            content=b"phone\n1\n",
            headers={"content-type": CSV},
        ),
        404,
    )
    _problem(sender.get("/api/v1/bulk-sends/bulk_aaaaaaaaaaaaaaaaaaaa"), 404, "contract-bulk-not-found")
    assert sender.get("/api/v1/bulk-sends").json() == []
    assert sender.get("/api/v1/contracts").json()["items"] == []


def test_bulk_pages_upload_show_progress_and_refuse_a_non_csv(
    browser: Callable[..., Any],
    api: Callable[..., Any],
    make_person: Callable[..., str],
    run_jobs: Callable[[], int],
) -> None:
    make_person(SENDER, verified=False)
    tpl = _template(api(SENDER))
    page = browser(SENDER)
    html = {"accept": "text/html"}
    r = page.get("/bulk-sends", headers=html)
    assert r.status_code == 200 and 'id="bulk-form"' in r.text and "甲方" in r.text
    csrf = {"csrf_token": str(page.cookies.get("qs_csrf")), "template_id": tpl}
    r = page.post("/bulk-sends", data=csrf, files={"file": ("a.pdf", b"%PDF-1.7\n", "application/pdf")}, headers=html)
    assert r.status_code == 422 and "不是 CSV" in r.text
    data = _csv("name,phone,甲方,乙方,事项", "李四,13800138001,甲,乙,丙", "王五,1380,甲,乙,丙").encode()
    r = page.post("/bulk-sends", data=csrf, files={"file": ("signers.csv", data, CSV)}, headers=html)
    assert r.status_code == 303 and r.headers["location"].startswith("/bulk-sends/bulk_")
    progress_url = r.headers["location"].split("?")[0]
    r = page.get(progress_url, headers=html)
    assert r.status_code == 200 and 'http-equiv="refresh"' in r.text and "0 / 2" in r.text
    run_jobs()
    r = page.get(progress_url, headers=html)
    assert r.status_code == 200 and 'http-equiv="refresh"' not in r.text and "2 / 2" in r.text
    assert 'data-line="3"' in r.text and "手机号格式不正确" in r.text


def _upload(sender: Any, tpl: str, data: bytes) -> str:
    r = sender.post(f"/api/v1/templates/{tpl}/bulk-sends", content=data, headers={"content-type": CSV})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _csv_blob(runtime: Runtime, bulk_id: str) -> str | None:
    from qianshu.contracts.models import ContractBulkSend

    with runtime.transaction() as s:
        row = s.get(ContractBulkSend, bulk_id)
        assert row is not None
        return row.csv_blob_id


def _remove_template(runtime: Runtime, bulk_id: str) -> None:
    from qianshu.contracts.models import ContractBulkSend, ContractTemplate

    with runtime.transaction() as s:
        bulk = s.get(ContractBulkSend, bulk_id)
        assert bulk is not None
        s.delete(s.get(ContractTemplate, bulk.template_id))


def _remove_csv(runtime: Runtime, bulk_id: str) -> None:
    from qianshu.storage import service as storage_service

    blob_id = _csv_blob(runtime, bulk_id)
    assert blob_id is not None
    with runtime.transaction() as s:
        storage_service.delete_blob(session=s, clock=runtime.clock, blob_id=blob_id)


@pytest.mark.parametrize("spoil", [_remove_template, _remove_csv], ids=["template-gone", "csv-gone"])
def test_unusable_template_or_file_finishes_the_bulk_send_with_an_error_and_deletes_the_csv(
    api: Callable[..., Any],
    make_person: Callable[..., str],
    runtime: Runtime,
    run_jobs: Callable[[], int],
    spoil: Callable[[Runtime, str], None],
) -> None:
    from qianshu.storage import service as storage_service

    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    data = _csv("name,phone,甲方,乙方,事项", *[f"客户{i},1380013800{i},甲,乙,丙" for i in range(4)]).encode()
    bulk_id = _upload(sender, tpl, data)
    blob_id = _csv_blob(runtime, bulk_id)
    assert blob_id is not None
    spoil(runtime, bulk_id)

    run_jobs()
    done = sender.get(f"/api/v1/bulk-sends/{bulk_id}").json()
    assert done["status"] == "done" and done["finished_at"] and done["done"] == 0 and done["succeeded"] == 0
    assert [e["line"] for e in done["errors"]] == [0]
    assert done["errors"][0]["reason"].startswith("其余各行未能处理")
    assert _csv_blob(runtime, bulk_id) is None
    with runtime.transaction() as s:
        assert storage_service.get_blob(session=s, blob_id=blob_id) is None
    from qianshu.jobs import service as jobs_service

    with runtime.transaction() as s:  # the bulk job finished at its first run, not failed and retried
        bulk_jobs = [j for j in jobs_service.list_jobs(session=s) if j.kind == "contracts.bulk_send"]
        assert [(j.status, j.attempts, j.last_error) for j in bulk_jobs] == [("done", 1, None)]


def test_a_row_that_fails_unexpectedly_is_reported_and_the_others_go_on(
    api: Callable[..., Any],
    make_person: Callable[..., str],
    runtime: Runtime,
    run_jobs: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from qianshu.contracts import documents

    real = documents.document_from_template

    def flaky(**kwargs: Any) -> Any:
        if "王五" in kwargs["data"].title:
            raise RuntimeError(f"boom while rendering {kwargs['data'].title}")  # a bug whose message holds row data
        return real(**kwargs)

    monkeypatch.setattr(documents, "document_from_template", flaky)
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    data = _csv(
        "name,phone,甲方,乙方,事项",
        "李四,13800138001,甲,乙,丙",
        "王五,13800138002,甲,乙,丙",  # line 3 hits the bug
        "赵六,13800138003,甲,乙,丙",
    ).encode()
    bulk_id = _upload(sender, tpl, data)
    with structlog.testing.capture_logs() as events:  # whatever stream an earlier test left logging on
        run_jobs()
    done = sender.get(f"/api/v1/bulk-sends/{bulk_id}").json()
    assert done["status"] == "done" and done["done"] == 3
    assert [x["line"] for x in done["results"]] == [2, 4]
    assert [(e["line"], e["reason"]) for e in done["errors"]] == [(3, "处理该行时发生内部错误，未创建合同")]
    assert _csv_blob(runtime, bulk_id) is None
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text + repr(events)
    assert "bulk_send_row_failed" in [e["event"] for e in events]
    for secret in ("王五", "13800138002"):
        assert secret not in logged


def test_rows_spanning_lines_are_resumed_at_the_right_line_between_batches(
    api: Callable[..., Any], make_person: Callable[..., str], run_jobs: Callable[[], int]
) -> None:
    make_person(SENDER, verified=False)
    sender = api(SENDER)
    tpl = _template(sender)
    data = _csv(
        "name,phone,甲方,乙方,事项,备注",  # 备注 is not a template variable: it may hold line breaks
        '李四,13800138001,甲,乙,丙,"第一行',  # a quoted cell over two lines: the row ends on line 3
        '第二行"',
        "王五,1380,甲,乙,丙,",  # line 4: bad phone (first batch)
        "",
        "赵六,13800138003,甲,乙,丙,",  # line 6: the second batch starts here
        '钱七,13800138004,甲,乙,丙,"多',
        '行"',  # line 8
    ).encode()
    bulk_id = _upload(sender, tpl, data)
    run_jobs()
    done = sender.get(f"/api/v1/bulk-sends/{bulk_id}").json()
    assert done["status"] == "done" and done["done"] == 4 and done["succeeded"] == 3, done["errors"]
    assert [x["line"] for x in done["results"]] == [3, 6, 8]
    assert [e["line"] for e in done["errors"]] == [4]
