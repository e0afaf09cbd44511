"""A contract from a template to a signed PDF, in Chromium: sender on a desktop, signer on a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PHONE, LiveServer, screenshot
from tests.e2e.flows import SmsInbox, contract_from_template, open_signing_link, register, verify_person
from tests.identity.conftest import make_id

pytestmark = pytest.mark.e2e

SENDER, SIGNER = "13900139111", "13800138222"
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成如下协议，合同金额人民币{{金额}}元。"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signing_identity_level": "two_elements"}


def test_sender_sends_from_a_template_and_the_signer_signs_on_a_phone(
    new_page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    inbox = SmsInbox(live_server)
    signer_setup = new_page(PHONE)
    register(signer_setup, inbox, phone=SIGNER)
    verify_person(live_server, SIGNER, "李四", make_id(seq="321"))
    signer_setup.context.close()

    sender = new_page()
    register(sender, inbox, phone=SENDER)
    contract_from_template(
        sender,
        title="软件开发服务合同",
        body=BODY,
        values={"甲方": "张三", "乙方": "李四", "事项": "软件开发", "金额": "10000"},
        signer=SIGNER,
    )
    sender.check("#s0-date")
    sender.click("#send-contract")
    sender.wait_for_selector("#timeline")
    assert sender.inner_text("#contract-title") == "软件开发服务合同"
    assert sender.locator("[data-status=sent]").count() == 1
    detail_url = sender.url.split("?")[0]

    # the signer opens the link on a phone, logged out, and proves the phone by code
    phone = new_page(PHONE)
    open_signing_link(phone, live_server, inbox, SIGNER)
    assert phone.locator("#qr img, img.qr").count() == 1
    assert phone.inner_text("#sign-title") == "软件开发服务合同"
    phone.click("#send-intent-code")
    phone.wait_for_selector("#intent-sent")
    fields = phone.locator("#sign-form input[type=date]")
    assert fields.count() == 1
    fields.first.fill("2026-03-01")
    phone.fill("#intent-code", inbox.wait_for_code(SIGNER))
    screenshot(phone, "contracts-sign-phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the signing page scrolls sideways ({width}px)"
    phone.click("#sign-submit")
    phone.wait_for_selector("#completed-notice", timeout=60_000)
    screenshot(phone, "contracts-signed-phone")
    with phone.expect_download() as info:
        phone.click("#download-document")
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"%PDF") and b"/ByteRange" in data

    sender.goto(detail_url)
    assert sender.locator("[data-status=completed]").count() == 1
    assert sender.locator("[data-action='contract.completed']").count() == 1
    with sender.expect_download() as info:
        sender.click("#download-signed")
    assert Path(info.value.path()).read_bytes() == data
    screenshot(sender, "contracts-detail-desktop")
