"""Input rules: phone numbers, e-mail addresses, password strength, device labels."""

from __future__ import annotations

import pytest

from qianshu.accounts.errors import InvalidEmail, InvalidLogin, InvalidPhone, WeakPassword
from qianshu.accounts.rules import (
    check_password,
    common_passwords,
    device_label,
    parse_contact,
    parse_email,
    parse_login,
    parse_phone,
)


@pytest.mark.parametrize(
    "raw",
    ["13812345678", " 138 1234 5678 ", "138-1234-5678", "+86 13812345678", "008613812345678", "19912345678"],
)
def test_parse_phone_accepts_mainland_mobiles(raw: str) -> None:
    assert parse_phone(raw).value == raw.strip().replace(" ", "").replace("-", "")[-11:]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1381234567",
        "138123456789",
        "12812345678",
        "23812345678",
        "abcdefghijk",
        "+1 4155550100",
        "138一二三",
    ],
)
def test_parse_phone_refuses_malformed_numbers(raw: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone(raw)
    assert caught.value.status == 422 and caught.value.slug == "invalid-phone"


@pytest.mark.parametrize("raw", ["a@b.cn", "Zhang.San+tag@Example.COM", "x_y-z@mail.qq.com"])
def test_parse_email_accepts_and_lowercases(raw: str) -> None:
    assert parse_email(raw).value == raw.lower()


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a..b@example.com",
        ".a@example.com",
        "a@-x.com",
        "a@x.123",
        "a b@example.com",
        "a@exa mple.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "张三@例子.中国",
    ],
)
def test_parse_email_refuses_malformed_addresses(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        parse_email(raw)


def test_parse_login_picks_the_kind() -> None:
    assert parse_login("13812345678").kind == "phone"
    assert parse_login("A@Example.com").kind == "email"
    with pytest.raises(InvalidLogin):
        parse_login("zhangsan")
    with pytest.raises(InvalidLogin):
        parse_login("   ")


def test_parse_contact_needs_exactly_one() -> None:
    with pytest.raises(InvalidLogin):
        parse_contact(phone="13812345678", email="a@example.com")
    with pytest.raises(InvalidLogin):
        parse_contact(phone=None, email=None)


@pytest.mark.parametrize("password", ["abcd1234x", "Zz!xyzwq", "12345678!", "密码很安全2025"])
def test_good_passwords_pass(password: str) -> None:
    check_password(password, contacts=["13812345678", "zhang.san@example.com"])


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("ab1!", "too_short"),
        ("a1" * 65, "too_long"),
        ("abcdefghij", "too_simple"),
        ("1234567890", "too_simple"),
        ("!@#$%^&*()", "too_simple"),
        ("13812345678", "too_simple"),
        ("13812345678a", "contains_contact"),
        ("zhang.san@example.com", "contains_contact"),
        ("Zhang.San", "contains_contact"),
        ("Password1", "common"),
        ("woaini1314", "common"),
        ("1qaz2wsx", "common"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        check_password(password, contacts=["13812345678", "zhang.san@example.com"])
    assert caught.value.extra["reason"] == reason
    assert caught.value.status == 422


def test_common_password_list_is_loaded_and_passes_the_other_rules() -> None:
    words = common_passwords()
    assert len(words) > 50
    for word in words:
        with pytest.raises(WeakPassword) as caught:
            check_password(word)
        assert caught.value.extra["reason"] in {"common", "too_short"}


def test_device_label_is_coarse() -> None:
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
    assert device_label(ua) == "Chrome · Windows"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Safari/604.1"
    assert device_label(iphone) == "Safari · iOS"
    assert device_label("") == "unknown"
