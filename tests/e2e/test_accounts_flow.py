"""Sign-up and sign-in as a person does it, in Chromium: codes come from the sandbox inbox and outbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.flows import (
    PASSWORD,
    EmailOutbox,
    SmsInbox,
    log_in_with_password,
    log_in_with_sms,
    log_out,
    open_menu,
    register,
)

pytestmark = pytest.mark.e2e

PHONE_NUMBER = "13912345678"
EMAIL = "li.lei@example.cn"


def test_register_by_phone_then_log_in_by_password_and_by_sms(phone_page: Any, live_server: LiveServer) -> None:
    page = phone_page
    inbox = SmsInbox(live_server)

    register(page, inbox, phone=PHONE_NUMBER)
    assert page.inner_text("#profile-phone") == "139****5678"
    open_menu(page)
    assert page.locator("#site-nav a[href='/account']").is_visible()
    assert page.locator("#site-nav a[href='/operator']").count() == 0  # not an operator
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "qs_session")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
    screenshot(page, "account-registered-phone")
    response = page.goto("/operator")
    assert response is not None and response.status == 403
    assert page.inner_text("#error-title") == "无权执行此操作"
    page.goto("/account")

    log_out(page)
    page.goto("/account")
    page.wait_for_url("**/login?next=%2Faccount")

    log_in_with_password(page, PHONE_NUMBER, PASSWORD)
    assert page.inner_text("#profile-phone") == "139****5678"
    log_out(page)

    log_in_with_sms(page, inbox, PHONE_NUMBER)
    assert "短信验证码" in page.inner_text("#devices")
    log_out(page)


def test_register_by_email_then_log_in_by_password(desktop_page: Any, live_server: LiveServer) -> None:
    page = desktop_page
    outbox = EmailOutbox(live_server)

    register(page, outbox, email=EMAIL)
    assert page.inner_text("#profile-email") == "l***@example.cn"
    assert page.inner_text("#profile-phone") == "未设置"
    log_out(page)

    log_in_with_password(page, EMAIL, PASSWORD)
    assert page.inner_text("#profile-email") == "l***@example.cn"
    # logging this device out from the device list asks first (data-confirm, wired by app.js)
    revoke = page.locator("#devices .badge.ok").locator("xpath=ancestor::tr").locator("button")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    revoke.click()
    assert len(asked) == 1 and asked[0]  # the confirm() text comes from data-confirm
    assert page.locator("#profile").is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    page.wait_for_selector("#cta-register")
    page.goto("/account")
    page.wait_for_url("**/login?next=%2Faccount")


def test_wrong_code_and_password_show_messages_not_crashes(desktop_page: Any, live_server: LiveServer) -> None:
    page = desktop_page
    inbox = SmsInbox(live_server)
    page.goto("/register")
    page.fill("input[name=phone]", "12345")
    page.click("#send-code")
    page.wait_for_selector(".notice.error")
    assert "手机号" in page.inner_text(".notice.error")

    page.fill("input[name=phone]", PHONE_NUMBER)
    page.click("#send-code")
    page.wait_for_selector("#code-sent")
    good = inbox.wait_for_code(PHONE_NUMBER)
    wrong = "000000" if good != "000000" else "111111"
    page.fill("input[name=code]", wrong)
    page.fill("input[name=password]", PASSWORD)
    page.check("input[name=accept_policy]")
    page.click("#submit")
    page.wait_for_selector(".notice.error")
    assert "/register" in page.url
    screenshot(page, "register-wrong-code-desktop")
    assert page.locator("#profile").count() == 0

    page.fill("input[name=code]", good)
    page.fill("input[name=password]", PASSWORD)
    page.check("input[name=accept_policy]")
    page.click("#submit")
    page.wait_for_selector("#profile")
    log_out(page)

    page.goto("/login")
    page.fill("input[name=login]", PHONE_NUMBER)
    page.fill("input[name=password]", "not-the-password-1")
    page.click("#submit")
    page.wait_for_selector(".notice.error")
    assert "/login" in page.url
    assert page.locator("#logout").count() == 0
