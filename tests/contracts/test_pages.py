"""Contract pages through the app: templates (A7), a new contract, its detail, the signer's page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from qianshu.contracts import service as contracts_service
from qianshu.contracts.pages import ACCESS_COOKIE
from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent

SENDER, SIGNER = "13900139000", "13800138001"
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成协议。"
HTML = {"accept": "text/html"}


def _post(c: Any, url: str, data: dict[str, str] | None = None, files: Any = None) -> Any:
    fields = {**(data or {}), "csrf_token": str(c.cookies.get("qs_csrf"))}
    return c.post(url, data=fields, files=files, headers=HTML)


def _contracts(runtime: Runtime, owner: str) -> list[Any]:
    with runtime.transaction() as s:
        return contracts_service.list_contracts(session=s, user_id=owner, contact_bidxs=[])


def _signer_row(contact: str = SIGNER) -> dict[str, str]:
    return {"s0_contact": contact, "s0_order": "1", "s0_x": "80", "s0_y": "90", "s0_w": "150", "s0_h": "60"}


def test_templates_are_readable_logged_out(browser: Callable[..., Any], make_person: Callable[..., str]) -> None:
    make_person(SENDER, verified=False)
    sender = browser(SENDER)
    r = _post(sender, "/templates", {"title": "服务合同", "body": BODY})
    assert r.status_code == 303 and r.headers["location"].startswith("/templates/tpl_")
    tpl_id = r.headers["location"].split("/")[2].split("?")[0]
    anon = browser()
    r = anon.get("/templates", headers=HTML)
    # a private template is not listed to others; the page still works without an account
    assert r.status_code == 200 and 'id="no-templates"' in r.text and "/login?next=/templates" in r.text
    r = sender.get(f"/templates/{tpl_id}", headers=HTML)
    assert r.status_code == 200 and "{{甲方}}" in r.text and "甲方、乙方、事项" in r.text
    pdf = sender.get(f"/templates/{tpl_id}/download")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    r = anon.get(f"/templates/{tpl_id}", headers=HTML)
    assert (
        r.status_code == 404
        and "未找到该合同模板" in r.text
        and "application/problem+json" not in r.headers["content-type"]
    )


def test_template_form_errors_are_shown_on_the_page(
    browser: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    make_person(SENDER, verified=False)
    sender = browser(SENDER)
    r = _post(sender, "/templates", {"title": "", "body": BODY})
    assert r.status_code == 422 and 'class="notice error"' in r.text and "{{甲方}}" in r.text


def test_contract_pages_need_a_signed_in_user(browser: Callable[..., Any]) -> None:
    anon = browser()
    for path in ("/contracts", "/contracts/new", "/contracts/ctr_aaaaaaaaaaaaaaaaaaaa"):
        r = anon.get(path, headers=HTML)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_new_contract_refuses_bad_input_and_creates_nothing(
    browser: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime
) -> None:
    owner = make_person(SENDER, verified=False)
    sender = browser(SENDER)
    r = _post(sender, "/templates", {"title": "服务合同", "body": BODY})
    tpl_id = r.headers["location"].split("/")[2].split("?")[0]
    values = {
        "source": "template",
        "template_id": tpl_id,
        "var_甲方": "张三",
        "var_乙方": "李四",
        "var_事项": "开发",
    }
    # no signer
    r = _post(sender, "/contracts/new", values)
    assert r.status_code == 422 and "请至少添加一位签署方" in r.text and 'value="张三"' in r.text
    # a field off the page
    r = _post(sender, "/contracts/new", {**values, **_signer_row(), "s0_x": "900"})
    assert r.status_code == 422 and "超出" in r.text and 'value="900"' in r.text
    # a bad phone number
    r = _post(sender, "/contracts/new", {**values, **_signer_row("12345")})
    assert r.status_code == 422 and "手机号格式不正确" in r.text
    # a missing template value
    r = _post(sender, "/contracts/new", {**values, "var_事项": "", **_signer_row()})
    assert r.status_code == 422 and "事项" in r.text
    # not a PDF
    files = {"file": ("x.pdf", b"hello", "application/pdf")}
    r = _post(sender, "/contracts/new", {"source": "upload", **_signer_row()}, files=files)
    assert 400 <= r.status_code < 500 and 'class="notice error"' in r.text
    assert _contracts(runtime, owner) == []
    with runtime.transaction() as s:
        assert contracts_service.list_documents(session=s, owner_id=owner) == []


def test_send_from_template_then_sign_on_the_signer_page(
    browser: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, sent: Sent
) -> None:
    owner = make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    sender = browser(SENDER)
    r = _post(sender, "/templates", {"title": "服务合同", "body": BODY})
    tpl_id = r.headers["location"].split("/")[2].split("?")[0]
    r = sender.get(f"/contracts/new?template={tpl_id}", headers=HTML)
    assert r.status_code == 200 and 'name="var_甲方"' in r.text
    form = {
        "source": "template",
        "template_id": tpl_id,
        "title": "软件开发合同",
        "var_甲方": "张三",
        "var_乙方": "李四",
        "var_事项": "软件开发",
        **_signer_row(),
        "s0_date": "on",
        "action": "send",
    }
    r = _post(sender, "/contracts/new", form)
    assert r.status_code == 303, r.text
    detail = r.headers["location"]
    assert detail.startswith("/contracts/ctr_") and detail.endswith("notice=contracts_sent")
    contract_id = detail.split("/")[2].split("?")[0]
    r = sender.get(detail, headers=HTML)
    assert r.status_code == 200 and "软件开发合同" in r.text and 'data-action="contract.sent"' in r.text
    assert "138****8001" in r.text and SIGNER not in r.text
    token = str(sent.last(SIGNER, "contract_sign_request")["params"]["token"])

    # the signer, logged out, proves the phone by code
    signer = browser()
    r = signer.get(f"/sign/{token}", headers=HTML)
    assert r.status_code == 200 and 'id="prove-contact"' in r.text and "软件开发合同" not in r.text
    assert 'src="data:image/svg+xml;base64,' in r.text  # 扫码签
    assert signer.get(f"/sign/{token}/document.pdf").status_code == 403
    r = _post(signer, f"/sign/{token}/access", {"code": "123456"})
    assert r.status_code in (400, 403, 404, 409, 410, 422) and 'class="notice error"' in r.text
    r = _post(signer, f"/sign/{token}/access-code")
    assert r.status_code == 200 and 'id="access-form"' in r.text
    r = _post(signer, f"/sign/{token}/access", {"code": sent.code(SIGNER, "otp_contract_access")})
    assert r.status_code == 303 and signer.cookies.get(ACCESS_COOKIE)
    r = signer.get(f"/sign/{token}", headers=HTML)
    assert r.status_code == 200 and "软件开发合同" in r.text and 'id="sign-form"' in r.text
    date_field = re.search(r'name="v_(fld_[a-z0-9]+)"', r.text)
    assert date_field is not None
    inline = signer.get(f"/sign/{token}/document.pdf?inline=1")
    assert inline.status_code == 200 and inline.headers["content-disposition"].startswith("inline")
    assert "frame-ancestors 'self'" in inline.headers["content-security-policy"]

    # a wrong intent code: the page again, readable, nothing signed
    r = _post(signer, f"/sign/{token}/intent-code")
    assert r.status_code == 200 and 'id="intent-sent"' in r.text
    code = sent.code(SIGNER, "otp_contract_sign")
    wrong = "000000" if code != "000000" else "111111"
    r = _post(signer, f"/sign/{token}/sign", {"code": wrong, "appearance": "text"})
    assert r.status_code == 422 and "验证码错误" in r.text
    r = _post(
        signer,
        f"/sign/{token}/sign",
        {"code": code, "appearance": "text", f"v_{date_field.group(1)}": "2026-13-01"},
    )
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    r = _post(signer, f"/sign/{token}/intent-code")
    code = sent.code(SIGNER, "otp_contract_sign")
    r = _post(
        signer,
        f"/sign/{token}/sign",
        {"code": code, "appearance": "text", f"v_{date_field.group(1)}": "2026-03-01"},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("notice=contracts_signed")
    r = signer.get(r.headers["location"], headers=HTML)
    assert 'id="completed-notice"' in r.text and 'id="sign-form"' not in r.text
    signed = signer.get(f"/sign/{token}/document.pdf")
    assert signed.status_code == 200 and signed.content.startswith(b"%PDF") and b"/ByteRange" in signed.content

    r = sender.get(f"/contracts/{contract_id}", headers=HTML)
    assert 'data-status="completed"' in r.text and 'id="download-signed"' in r.text
    assert 'data-action="contract.completed"' in r.text and 'data-action="contract.signed"' in r.text
    # each signature's validation status, checked offline against the platform root
    assert 'id="validation-verdict" class="ok" data-ok="true"' in r.text
    rows = re.findall(r'<tr data-ok="(true|false)">', r.text)
    assert rows == ["true", "true"]  # the signer's B-T signature, then the B-LTA document time-stamp
    assert sender.get(f"/contracts/{contract_id}/signed.pdf").content == signed.content
    original = sender.get(f"/contracts/{contract_id}/original.pdf").content
    assert original.startswith(b"%PDF") and b"/ByteRange" not in original
    r = sender.get("/contracts?box=completed", headers=HTML)
    assert f'id="contract-{contract_id}"' in r.text
    # search by (decrypted) title or id; no match says so
    assert f'id="contract-{contract_id}"' in sender.get("/contracts?q=软件开发", headers=HTML).text
    assert f'id="contract-{contract_id}"' in sender.get(f"/contracts?q={contract_id[:10]}", headers=HTML).text
    r = sender.get("/contracts?box=completed&q=租赁", headers=HTML)
    assert f'id="contract-{contract_id}"' not in r.text and 'id="no-contracts"' in r.text
    # someone else's contract looks absent
    make_person("13800138002", verified=False)
    other = browser("13800138002")
    assert other.get(f"/contracts/{contract_id}", headers=HTML).status_code == 404
    assert owner


def test_sender_revokes_and_signer_declines(
    browser: Callable[..., Any], make_person: Callable[..., str], sent: Sent
) -> None:
    make_person(SENDER, verified=False)
    signer_id = make_person(SIGNER)
    sender = browser(SENDER)
    r = _post(sender, "/templates", {"title": "服务合同", "body": BODY})
    tpl_id = r.headers["location"].split("/")[2].split("?")[0]
    base = {"source": "template", "template_id": tpl_id, "var_甲方": "张", "var_乙方": "李", "var_事项": "事"}
    r = _post(sender, "/contracts/new", {**base, **_signer_row(), "action": "draft"})
    assert r.headers["location"].endswith("notice=contracts_draft_saved")
    draft = r.headers["location"].split("/")[2].split("?")[0]
    r = _post(sender, f"/contracts/{draft}/revoke", {"reason": ""})
    assert r.status_code == 422 and "撤回原因" in r.text
    r = _post(sender, f"/contracts/{draft}/revoke", {"reason": "条款有误"})
    assert r.status_code == 303
    r = _post(sender, f"/contracts/{draft}/send")
    assert r.status_code == 409 and "只有草稿可以发送" in r.text

    r = _post(sender, "/contracts/new", {**base, **_signer_row(), "action": "send"})
    token = str(sent.last(SIGNER, "contract_sign_request")["params"]["token"])
    signer = browser(SIGNER)  # signed in as the recipient: no code needed to open it
    r = signer.get("/contracts?box=mine", headers=HTML)
    contract_id = r.headers.get("location") or re.findall(r'id="contract-(ctr_[a-z0-9]+)"', r.text)[0]
    r = signer.get(f"/contracts/{contract_id}/open")
    assert r.status_code == 303 and r.headers["location"] == f"/sign/{token}"
    r = signer.get(f"/sign/{token}", headers=HTML)
    assert 'id="sign-form"' in r.text
    r = _post(signer, f"/sign/{token}/decline", {"reason": "金额不对"})
    assert r.status_code == 303
    r = signer.get(f"/sign/{token}", headers=HTML)
    assert 'id="declined-notice"' in r.text and 'data-status="declined"' in r.text
    assert signer_id
