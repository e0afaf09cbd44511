"""Message templates: both locales, every template and channel, strict params, the e-mail format."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest

from qianshu.notify.messages import (
    TEMPLATES,
    BadTemplateParams,
    UnknownTemplate,
    compose_email,
    normalise_locale,
    render_message,
    template_names,
)

SITE = "签署 Qianshu"
BASE = "https://sign.example.cn"
PARAMS: dict[str, dict[str, Any]] = {
    "otp_register": {"code": "482913", "minutes": 5},
    "otp_login": {"code": "482913", "minutes": 5},
    "otp_reset": {"code": "482913", "minutes": 5},
    "otp_change_contact": {"code": "482913", "minutes": 5},
    "policy_updated": {"version": "2.0"},
    "account_locked": {"minutes": 15},
}


def test_every_required_template_exists_in_both_locales() -> None:
    required = {
        "otp_register",
        "otp_login",
        "otp_reset",
        "otp_change_contact",
        "policy_updated",
        "account_locked",
    }
    assert required <= set(template_names())
    for name, template in TEMPLATES.items():
        assert set(template.texts) == {"zh-CN", "en"}, name


@pytest.mark.parametrize("template", sorted(PARAMS))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_templates_render_for_both_channels(template: str, locale: str) -> None:
    sms = render_message(
        template=template,
        channel="sms",
        locale=locale,
        params=PARAMS[template],
        site_name=SITE,
        base_url=BASE,
    )
    mail = render_message(
        template=template,
        channel="email",
        locale=locale,
        params=PARAMS[template],
        site_name=SITE,
        base_url=BASE,
    )
    assert sms.subject is None and sms.locale == locale
    assert mail.subject and SITE in mail.subject and "\n" not in mail.subject
    for value in PARAMS[template].values():
        assert str(value) in sms.body and str(value) in mail.body
    for text in (sms.body, mail.body):
        assert "{" not in text and "}" not in text


def test_chinese_otp_text_reads_as_chinese_with_the_signature_first() -> None:
    sms = render_message(
        template="otp_login",
        channel="sms",
        locale="zh-CN",
        params=PARAMS["otp_login"],
        site_name=SITE,
        base_url=BASE,
    )
    assert sms.body.startswith("【签署 Qianshu】")
    assert "登录" in sms.body and "482913" in sms.body and "5 分钟" in sms.body


def test_english_otp_text_is_english() -> None:
    mail = render_message(
        template="otp_reset",
        channel="email",
        locale="en",
        params=PARAMS["otp_reset"],
        site_name=SITE,
        base_url=BASE,
    )
    assert mail.subject == "签署 Qianshu: your password reset code"
    assert "reset your password" in mail.body and "5 minutes" in mail.body and BASE in mail.body


def test_code_is_kept_out_of_the_email_subject() -> None:
    for name in ("otp_register", "otp_login", "otp_reset", "otp_change_contact"):
        for locale in ("zh-CN", "en"):
            mail = render_message(
                template=name,
                channel="email",
                locale=locale,
                params=PARAMS[name],
                site_name=SITE,
                base_url=BASE,
            )
            assert mail.subject is not None and "482913" not in mail.subject


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("en", "en"), ("en-US", "en"), ("fr", "zh-CN"), ("", "zh-CN")],
)
def test_locale_falls_back_to_chinese(raw: str, expected: str) -> None:
    assert normalise_locale(raw) == expected


def test_unknown_template_is_refused() -> None:
    with pytest.raises(UnknownTemplate) as err:
        render_message(
            template="otp_lgoin", channel="sms", locale="zh-CN", params={}, site_name=SITE, base_url=BASE
        )
    assert err.value.status == 422


@pytest.mark.parametrize(
    "params",
    [
        {"code": "482913"},  # missing minutes
        {"code": "482913", "minutes": 5, "name": "张三"},  # unknown param
        {"code": "48\n2913", "minutes": 5},  # a second line
        {"code": "", "minutes": 5},
        {"code": "4" * 101, "minutes": 5},
        {"code": True, "minutes": 5},
        {"code": ["482913"], "minutes": 5},
    ],
)
def test_params_that_do_not_fit_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(BadTemplateParams):
        render_message(
            template="otp_login", channel="sms", locale="en", params=params, site_name=SITE, base_url=BASE
        )


def test_composed_email_is_rfc5322_utf8_with_recipient_before_the_body() -> None:
    message = compose_email(
        message_id="msg_abc",
        sender="noreply@qianshu.local",
        to="zhang.san@example.com",
        subject="签署：登录验证码",
        body="验证码 482913\n",
        date=datetime(2026, 1, 5, 2, 0, tzinfo=UTC),
    )
    raw = message.as_bytes()
    assert b"\r\n" in raw
    parsed = message_from_bytes(raw, policy=email_policy.default)
    assert parsed["Message-ID"] == "<msg_abc@qianshu.local>"
    assert parsed["To"] == "zhang.san@example.com"
    assert parsed["Subject"] == "签署：登录验证码"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == "验证码 482913\n"  # type: ignore[union-attr]
    names = [k.lower() for k in parsed]
    assert names.index("message-id") < names.index("to") and names.index("date") < names.index("to")
