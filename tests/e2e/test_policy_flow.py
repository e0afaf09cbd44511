"""A major privacy-policy update: the operator publishes it, the user must accept it before going on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.flows import PASSWORD, SmsInbox, create_operator, log_in_with_password, log_out, register

pytestmark = pytest.mark.e2e

PHONE_NUMBER = "13700001111"
NEW_POLICY = """# 签署 Qianshu 隐私政策（2.0）

## 一、我们收集的信息
为提供电子合同服务，我们收集您的手机号或邮箱，用于登录和接收验证码。

## 二、新增内容
我们新增了实名认证所需信息的说明：身份证号码仅用于核验身份，加密保存。
"""


def test_user_must_accept_a_new_major_policy_before_going_on(new_page: Any, live_server: LiveServer) -> None:
    user = new_page()
    register(user, SmsInbox(live_server), phone=PHONE_NUMBER)
    log_out(user)

    operator = new_page()
    login, password = create_operator(live_server, roles=("privacy_officer",))  # publishing needs it (P10)
    log_in_with_password(operator, login, password)
    operator.click("#site-nav a[href='/operator']")
    operator.click("#operator-outbox")  # the console's tile for the message outbox
    operator.wait_for_selector("#messages")
    assert PHONE_NUMBER not in operator.inner_text("#messages")  # recipients are masked
    screenshot(operator, "operator-outbox-desktop")
    operator.go_back()
    operator.click("#operator-privacy")
    operator.wait_for_selector("#publish-form")
    operator.fill("input[name=version]", "2.0")
    operator.fill("input[name=summary]", "新增实名认证信息说明")
    operator.fill("textarea[name=text]", NEW_POLICY)
    operator.check("input[name=major]")
    operator.click("#publish-submit")
    operator.wait_for_selector("#policy-versions >> text=2.0")
    log_out(operator)

    log_in_with_password(user, PHONE_NUMBER, PASSWORD, expect_path="/privacy/accept")
    user.wait_for_selector("#accept-form")
    assert "新增实名认证信息说明" in user.inner_text("main")
    assert "身份证号码仅用于核验身份" in user.inner_text("#policy-text")
    screenshot(user, "privacy-accept-desktop")

    user.goto("/account")  # the gate holds until the new version is accepted
    user.wait_for_url("**/privacy/accept?next=%2Faccount")
    user.click("#accept-submit")
    user.wait_for_url("**/account")
    user.wait_for_selector("#profile")

    user.goto("/privacy")
    assert "2.0" in user.inner_text(".page-head")
    log_out(user)
