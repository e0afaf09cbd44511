"""HTML pages: my organisations, the wizard, members and seals, review, the sandbox bank statement."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, LiveServer, Outbox, User, licence_image

Browser = Callable[[User], TestClient]


@pytest.fixture
def web(app: Any) -> Iterator[Browser]:
    """Return `open(user)`: a cookie-carrying browser signed in as `user`, with its CSRF cookie."""
    opened: list[TestClient] = []

    def open_(user: User) -> TestClient:
        c = TestClient(app, base_url="http://testserver", follow_redirects=False)
        c.__enter__()
        opened.append(c)
        c.cookies.set("qs_session", user.token)
        c.get("/", headers={"accept": "text/html"})
        assert c.cookies.get("qs_csrf")
        return c

    yield open_
    for c in opened:
        c.__exit__(None, None, None)


def _post(c: TestClient, url: str, data: dict[str, str] | None = None, files: Any = None) -> Any:
    fields = {**(data or {}), "csrf_token": str(c.cookies.get("qs_csrf"))}
    return c.post(url, data=fields, files=files, headers={"accept": "text/html"})


def _get(c: TestClient, url: str) -> Any:
    return c.get(url, headers={"accept": "text/html"})


def test_pages_need_a_signed_in_user(client: Any) -> None:
    r = client.get("/orgs", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_wizard_from_start_to_pending_review(web: Browser, make_user: Any, runtime: Runtime) -> None:
    owner = make_user(name="陈页面")
    b = web(owner)
    r = _get(b, "/orgs")
    assert r.status_code == 200 and 'id="no-orgs"' in r.text and 'href="/orgs/new"' in r.text
    assert 'name="csrf_token"' in _get(b, "/orgs/new").text
    # A wrong check character: the same form again, with the reason next to the field.
    r = _post(b, "/orgs/new", {"name": "福州页面测试有限公司", "uscc": "91350100M000100Y44"})
    assert r.status_code == 422 and "第 18 位校验码错误" in r.text and 'value="福州页面测试有限公司"' in r.text
    assert owner.api.get("/api/v1/orgs").json() == []
    # Without the CSRF field the form is refused.
    r = b.post("/orgs/new", data={"name": "x", "uscc": "y"}, headers={"accept": "text/html"})
    assert r.status_code == 403
    r = _post(b, "/orgs/new", {"name": "福州页面测试有限公司", "uscc": "91350100M000100Y43"})
    assert r.status_code == 303
    apply_url = r.headers["location"].split("?")[0]
    org_id = apply_url.split("/")[2]
    page = _get(b, r.headers["location"])
    assert page.status_code == 200 and "认证申请已创建" in page.text and "福州页面测试有限公司" in page.text
    assert 'id="licence-form"' in page.text and 'enctype="multipart/form-data"' in page.text
    # Not an image: a readable message, status 422, nothing stored.
    r = _post(b, f"{apply_url}/licence", files={"file": ("x.pdf", b"%PDF-1.7", "application/pdf")})
    assert r.status_code == 422 and "请上传 JPEG 或 PNG 图片" in r.text
    r = _post(b, f"{apply_url}/licence", files={"file": ("l.jpg", licence_image(), "image/jpeg")})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=orgs_licence_uploaded")
    assert "审核中" in _get(b, apply_url).text
    r = _post(b, f"{apply_url}/legal-rep", {"name": owner.name, "id_number": owner.number})
    assert r.status_code == 422 and "请确认您已获得法定代表人授权" in r.text  # the consent box
    r = _post(b, f"{apply_url}/legal-rep", {"name": owner.name, "id_number": owner.number, "authorised": "yes"})
    assert r.status_code == 303
    page = _get(b, apply_url).text
    assert 'id="agent-done"' in page and "陈**" in page and owner.number not in page
    assert _get(b, f"/orgs/{org_id}").status_code == 200


def test_strangers_get_a_404_page(web: Browser, flow: Flow, make_user: Any) -> None:
    owner, stranger = make_user(), make_user()
    org = flow.create(owner)
    r = _get(web(stranger), f"/orgs/{org['id']}")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]


def test_bank_step_through_pages_and_the_sandbox_statement(
    web: Browser, live_flow: Flow, live_server: LiveServer, make_user: Any
) -> None:
    owner = make_user()
    org = live_flow.create(owner)
    b = web(owner)
    url = f"/orgs/{org['id']}/apply"
    r = _post(b, f"{url}/deposit", {"bank_name": "招商银行", "account_number": "6225 8800 1234 5678"})
    assert r.status_code == 303, r.text
    page = _get(b, url).text
    assert "5678" in page and 'id="deposit-confirm-form"' in page
    statement = _post(b, "/sandbox/bank", {"account_number": "6225880012345678"})
    assert statement.status_code == 200
    amount = re.search(r'class="amount">¥([0-9.]+)<', statement.text)
    assert amount is not None
    wrong = "0.00" if amount.group(1) != "0.00" else "0.01"
    r = _post(b, f"{url}/deposit/confirm", {"amount": wrong})
    assert r.status_code == 422 and "还可尝试 2 次" in r.text
    r = _post(b, f"{url}/deposit/confirm", {"amount": amount.group(1)})
    assert r.status_code == 303 and "orgs_bank_verified" in r.headers["location"]


def test_org_page_shows_members_and_seals(web: Browser, live_flow: Flow, make_user: Any, outbox: Outbox) -> None:
    owner = make_user()
    org = live_flow.verified(owner, name="漳州印章页面有限公司")
    b = web(owner)
    r = _post(b, f"/orgs/{org['id']}/seals/generate", {"name": "合同专用章", "footer": "合同专用章"})
    assert r.status_code == 303, r.text
    page = _get(b, f"/orgs/{org['id']}").text
    img = re.search(r'<img src="(/orgs/[^"]+/image\.png)"', page)
    assert img is not None
    png = b.get(img.group(1))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    r = _post(
        b,
        f"/orgs/{org['id']}/seals/upload",
        {"name": "坏印章"},
        files={"file": ("s.jpg", licence_image(), "image/jpeg")},
    )
    assert r.status_code == 422 and "PNG" in r.text
    invitee = make_user()
    r = _post(b, f"/orgs/{org['id']}/invitations", {"contact": invitee.phone, "role": "agent"})
    assert r.status_code == 303
    r = _post(b, f"/orgs/{org['id']}/invitations", {"contact": "", "role": "agent"})
    assert r.status_code == 422 and "请输入手机号或邮箱地址" in r.text
    ib = web(invitee)
    mine = _get(ib, "/orgs").text
    inv = re.search(r'action="(/orgs/invitations/[^"]+/accept)"', mine)
    assert inv is not None and "漳州印章页面有限公司" in mine
    r = _post(ib, inv.group(1))
    assert r.status_code == 303 and r.headers["location"].startswith(f"/orgs/{org['id']}")
    seal_id = img.group(1).split("/")[4]
    r = _post(b, f"/orgs/{org['id']}/seals/{seal_id}/grants", {"member": invitee.id, "until": "2026-02-01"})
    assert r.status_code == 303, r.text
    r = _post(b, f"/orgs/{org['id']}/seals/{seal_id}/grants", {"member": invitee.id, "until": "soon"})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    page = _get(ib, f"/orgs/{org['id']}").text
    assert "至 2026-02-01" in page and 'id="generate-seal-form"' not in page  # agents do not manage seals


def test_operator_review_pages(web: Browser, flow: Flow, make_user: Any, operator: User) -> None:
    owner = make_user(name="黄审核")
    org = flow.create(owner, name="宁德审核页面有限公司")
    flow.legal_rep_self(owner, org["id"])
    owner.api.post(f"/api/v1/orgs/{org['id']}/licence", content=licence_image(), headers={"content-type": "image/jpeg"})
    ob = web(operator)
    queue = _get(ob, "/operator/orgs").text
    link = re.search(r'href="(/operator/orgs/doc_[^"]+)"', queue)
    assert link is not None and "黄**" in queue and owner.number not in queue
    page = _get(ob, link.group(1)).text
    assert 'id="reveal-form"' in page and "data:image" not in page
    r = _post(ob, f"{link.group(1)}/reveal", {"reason": "nosy"})
    assert r.status_code == 422
    r = _post(ob, f"{link.group(1)}/reveal", {"reason": "review"})
    assert r.status_code == 200 and 'src="data:image/jpeg;base64,' in r.text and owner.number in r.text
    r = _post(ob, f"{link.group(1)}/decision", {"decision": "reject"})
    assert r.status_code == 422 and "驳回时请选择原因" in r.text
    r = _post(ob, f"{link.group(1)}/decision", {"decision": "approve"})
    assert r.status_code == 303 and r.headers["location"] == "/operator/orgs?notice=orgs_reviewed"
    assert _get(web(owner), "/operator/orgs").status_code == 403


def test_legal_rep_confirmation_page(web: Browser, flow: Flow, make_user: Any, outbox: Outbox) -> None:
    from tests.orgs.conftest import id_number

    applicant, rep = make_user(), make_user(name="郑法人", number=id_number("444"))
    org = flow.create(applicant)
    applicant.api.put(
        f"/api/v1/orgs/{org['id']}/legal-rep",
        json={"name": rep.name, "id_number": rep.number, "authorised": True},
    )
    b = web(applicant)
    r = _post(b, f"/orgs/{org['id']}/apply/confirmation", {"phone": rep.phone})
    assert r.status_code == 303
    token = outbox.last("org_legal_rep_confirm").params["token"]
    rb = web(rep)
    page = _get(rb, f"/orgs/confirm/{token}").text
    assert org["name"] in page and 'id="confirm-agent-button"' in page
    r = _post(rb, f"/orgs/confirm/{token}")
    assert r.status_code == 303
    assert "已确认" in _get(rb, r.headers["location"]).text


def test_english_pages(web: Browser, make_user: Any) -> None:
    b = web(make_user())
    assert "Verify an organisation" in _get(b, "/orgs/new?lang=en").text
