"""C4 in Chromium: a signer sets a signing password (签署密码) and signs with it; another confirms by face."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import PHONE, LiveServer, screenshot
from tests.e2e.flows import (
    PASSWORD,
    SmsInbox,
    contract_from_template,
    open_signing_link,
    register,
    signing_link,
    verify_person,
)
from tests.identity.conftest import make_id

pytestmark = pytest.mark.e2e

SENDER, SIGNER = "13900139333", "13800138444"
FACE_SENDER, FACE_SIGNER = "13900139335", "13800138446"
SIGNING_PASSWORD = "740261"
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成如下协议。"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signing_identity_level": "two_elements"}


def _sent_by(new_page: Any, inbox: SmsInbox, sender_phone: str, signer_phone: str) -> tuple[Any, str]:
    """A new sender sends a template contract to `signer_phone`; return the sender's page and the detail URL."""
    sender = new_page()
    register(sender, inbox, phone=sender_phone)
    contract_from_template(
        sender,
        title="咨询服务合同",
        body=BODY,
        values={"甲方": "张三", "乙方": "李四", "事项": "咨询服务"},
        signer=signer_phone,
    )
    sender.click("#send-contract")
    sender.wait_for_selector("#timeline")
    return sender, sender.url.split("?")[0]


def test_signer_sets_a_signing_password_and_signs_with_it(
    new_page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    inbox = SmsInbox(live_server)
    signer = new_page()
    register(signer, inbox, phone=SIGNER)
    verify_person(live_server, SIGNER, "李四", make_id(seq="654"))
    signer.click("#signing-password")
    signer.wait_for_selector("#signing-password-form")
    signer.fill("#sp-current", PASSWORD)
    signer.fill("#sp-new", SIGNING_PASSWORD)
    signer.fill("#sp-confirm", SIGNING_PASSWORD)
    signer.click("#signing-password-submit")
    signer.wait_for_url("**/account*")
    signer.wait_for_selector("#profile")

    sender, detail_url = _sent_by(new_page, inbox, SENDER, SIGNER)

    # the signer is signed in as the recipient's account: the password method is offered and chosen
    signer.goto(signing_link(live_server, inbox, SIGNER))
    signer.wait_for_selector("#sign-form")
    assert signer.is_checked("#im-password")
    signer.fill("#intent-password", "000000")
    signer.click("#sign-submit")
    signer.wait_for_selector("[role=alert]")
    assert "签署密码错误" in signer.inner_text("[role=alert]")
    signer.check("#im-password")
    signer.fill("#intent-password", SIGNING_PASSWORD)
    screenshot(signer, "contracts-sign-with-signing-password")
    signer.click("#sign-submit")
    signer.wait_for_selector("#completed-notice", timeout=60_000)

    sender.goto(detail_url)
    assert sender.locator("[data-status=completed]").count() == 1
    assert sender.locator("[data-action='contract.intent_confirmed']").count() == 1


def test_signer_confirms_intent_by_face_on_a_phone(
    new_page: Any, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """人脸核验: with `face` allowed, the signer on a phone takes a photo in the sign form and signs."""
    monkeypatch.setattr(live_server.runtime.settings, "signing_intent_methods", "code,face")
    inbox = SmsInbox(live_server)
    setup = new_page(PHONE)
    register(setup, inbox, phone=FACE_SIGNER)
    verify_person(live_server, FACE_SIGNER, "李四", make_id(seq="655"))
    setup.context.close()
    sender, detail_url = _sent_by(new_page, inbox, FACE_SENDER, FACE_SIGNER)

    phone = new_page(PHONE)
    open_signing_link(phone, live_server, inbox, FACE_SIGNER)
    assert phone.get_attribute("#f-face", "capture") == "user"
    photo = tmp_path / "face.jpg"
    Image.new("RGB", (480, 640), (205, 170, 150)).save(photo, format="JPEG")
    phone.check("#im-face")
    phone.set_input_files("#f-face", str(photo))
    phone.click("#sign-submit")  # no consent ticked: the page asks for it, nothing is sent
    phone.wait_for_selector("[role=alert]")
    assert "单独同意" in phone.inner_text("[role=alert]")
    phone.check("#im-face")
    phone.set_input_files("#f-face", str(photo))
    phone.check("#f-face-consent")
    screenshot(phone, "contracts-sign-with-face-check")
    phone.click("#sign-submit")
    phone.wait_for_selector("#completed-notice", timeout=60_000)

    sender.goto(detail_url)
    assert sender.locator("[data-status=completed]").count() == 1
    assert sender.locator("[data-action='contract.face_checked']").count() == 1
