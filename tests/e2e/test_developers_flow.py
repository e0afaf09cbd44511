"""The developers page in Chromium: an API key shown once and used, a webhook delivered and replayed.

The owner creates an API key (its secret shown once; a reload no longer shows it), creates a
contract with it over HTTP, adds a webhook pointing at a loopback receiver, sends the contract,
sees the signed delivery in the log and replays it. Desktop and phone screenshots are kept.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.contracts.integrator_support import contract_body, pdf_bytes, running_receiver
from tests.e2e.conftest import PHONE, LiveServer, screenshot
from tests.e2e.flows import SmsInbox, log_in_with_password, register, verify_person
from tests.identity.conftest import make_id

pytestmark = pytest.mark.e2e

OWNER = "13500135011"
USCC = "91350100M000100Y43"


def _make_org(server: LiveServer, phone: str) -> str:
    from qianshu.accounts import service as accounts_service
    from qianshu.orgs import service as orgs_service
    from qianshu.orgs.schemas import OrgCreate

    runtime = server.runtime
    with runtime.transaction() as s:
        user = accounts_service.find_user(session=s, phone=phone)
        assert user is not None
        org = orgs_service.create_org(
            session=s, clock=runtime.clock, actor_id=user.id, data=OrgCreate(name="福州闽江数字科技有限公司", uscc=USCC)
        )
    return org.id


def _wait_for(page: Any, server: LiveServer, path: str, selector: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        server.wake_worker()
        page.goto(path)
        if page.locator(selector).count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} did not appear on {path}")
        time.sleep(0.2)


def test_owner_creates_a_key_uses_it_and_replays_a_webhook(
    live_server: LiveServer, desktop_page: Any, new_page: Any
) -> None:
    page, inbox = desktop_page, SmsInbox(live_server)
    register(page, inbox, phone=OWNER)
    verify_person(live_server, OWNER, "王五", make_id(seq="456"))
    org_id = _make_org(live_server, OWNER)
    developers = f"/orgs/{org_id}/developers"

    page.goto(f"/orgs/{org_id}")
    page.click("#developers-link")
    page.wait_for_url(f"**{developers}")
    assert page.locator("#openapi-link").get_attribute("href") == "/api/docs"
    page.fill("#key-name", "ERP 测试")
    page.check("input[name=scopes][value='contracts:read']")
    page.check("input[name=scopes][value='contracts:write']")
    page.click("#create-key")
    page.wait_for_selector("#secret-value")
    secret = page.input_value("#secret-value")
    assert secret.startswith("qsk_")
    assert page.locator("[data-copy]").is_visible()  # the copy button (JS)
    page.reload()
    page.wait_for_selector("#key-list")
    assert page.locator("#secret-value").count() == 0 and secret not in page.content()

    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=20)
    r = api.post(
        "/api/v1/documents",
        content=pdf_bytes(live_server.runtime),
        headers={"content-type": "application/pdf"},
        params={"title": "采购合同"},
    )
    assert r.status_code == 201, r.text
    r = api.post("/api/v1/contracts", json=contract_body(r.json()["id"]))
    assert r.status_code == 201, r.text
    contract_id = r.json()["id"]

    with running_receiver() as receiver:
        page.fill("#hook-url", receiver.url)
        page.check("input[name=events][value='contract.sent']")
        page.click("#create-hook")
        page.wait_for_selector("#secret-value")
        assert page.input_value("#secret-value").startswith("whsec_")
        assert api.post(f"/api/v1/contracts/{contract_id}/send").status_code == 200
        _wait_for(page, live_server, developers, "tr[data-status=delivered]")
        assert len(receiver.requests) == 1
        assert receiver.requests[0].headers["x-qianshu-event"] == "contract.sent"
        page.locator("tr[data-status=delivered] button[id^=replay-]").first.click()
        page.wait_for_url("**notice=contracts_developers_replayed*")
        _wait_for(
            page,
            live_server,
            developers,
            "tr[data-status=delivered] + tr[data-status=delivered], "
            "tr[data-status=delivered] ~ tr[data-status=delivered]",
        )
        assert len(receiver.requests) == 2
        first, second = receiver.requests
        assert first.headers["x-qianshu-event-id"] == second.headers["x-qianshu-event-id"]
    api.close()
    screenshot(page, "developers-desktop")

    phone = new_page(PHONE)
    log_in_with_password(phone, OWNER)
    phone.goto(developers)
    phone.wait_for_selector("#key-list")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width  # no sideways scrolling of the page itself
    screenshot(phone, "developers-phone")
