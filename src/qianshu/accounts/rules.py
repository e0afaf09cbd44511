"""Input rules: mainland mobile numbers, e-mail addresses, password strength, device labels."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from qianshu.accounts.errors import InvalidEmail, InvalidLogin, InvalidPhone, WeakPassword
from qianshu.vault.normalise import normalise_email, normalise_phone

ContactKind = Literal["phone", "email"]

# MIIT numbering plan: mainland mobile numbers are 11 digits starting 13-19.
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PASSWORD_MIN = 8
PASSWORD_MAX = 128


@dataclass(frozen=True)
class Contact:
    """A normalised phone number or e-mail address."""

    kind: ContactKind
    value: str


def parse_phone(raw: str) -> Contact:
    """Return the mainland mobile number in `raw`, or raise InvalidPhone."""
    value = normalise_phone(raw or "")
    if not _PHONE_RE.fullmatch(value):
        raise InvalidPhone(
            "请输入 11 位中国大陆手机号", detail_en="Enter an 11-digit mainland China mobile number"
        )
    return Contact("phone", value)


def parse_email(raw: str) -> Contact:
    """Return the e-mail address in `raw` (RFC 5321 §4.5.3.1 length limits), or raise InvalidEmail."""
    value = normalise_email(raw or "")
    local, at, domain = value.rpartition("@")
    labels = domain.split(".")
    ok = (
        bool(at)
        and len(value) <= 254
        and 1 <= len(local) <= 64
        and _LOCAL_RE.fullmatch(local) is not None
        and len(labels) >= 2
        and all(_LABEL_RE.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )
    if not ok:
        raise InvalidEmail("请输入有效的邮箱地址", detail_en="Enter a valid e-mail address")
    return Contact("email", value)


def parse_login(raw: str) -> Contact:
    """Read a login as an e-mail address when it has an @, else as a mobile number."""
    raw = (raw or "").strip()
    if not raw:
        raise InvalidLogin("请输入手机号或邮箱地址", detail_en="Enter a mobile number or an e-mail address")
    if "@" in raw:
        return parse_email(raw)
    try:
        return parse_phone(raw)
    except InvalidPhone:
        raise InvalidLogin(
            "请输入有效的手机号或邮箱地址", detail_en="Enter a valid mobile number or e-mail address"
        ) from None


def parse_contact(*, phone: str | None, email: str | None) -> Contact:
    """Return the one contact given (phone or e-mail)."""
    if phone and not email:
        return parse_phone(phone)
    if email and not phone:
        return parse_email(email)
    raise InvalidLogin(
        "请填写手机号或邮箱地址其中一项", detail_en="Give either a phone number or an e-mail address"
    )


@cache
def common_passwords() -> frozenset[str]:
    """Return the list of common passwords refused outright (lower-cased)."""
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _classes(password: str) -> int:
    letters = any(c.isalpha() for c in password)
    digits = any(c.isdigit() for c in password)
    symbols = any(not c.isalnum() for c in password)
    return int(letters) + int(digits) + int(symbols)


def check_password(password: str, *, contacts: Iterable[str] = ()) -> None:
    """Refuse weak passwords: under 8 characters, one character class, a contact, or a common one."""
    if len(password) < PASSWORD_MIN:
        raise WeakPassword("密码至少需要 8 个字符", detail_en="Use at least 8 characters", reason="too_short")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(
            "密码不能超过 128 个字符", detail_en="Use at most 128 characters", reason="too_long"
        )
    if _classes(password) < 2:
        raise WeakPassword(
            "密码须包含字母、数字、符号中的至少两类",
            detail_en="Mix at least two of letters, digits and symbols",
            reason="too_simple",
        )
    folded = password.casefold()
    for contact in contacts:
        candidates = {contact.casefold()}
        if "@" in contact:
            candidates.add(contact.split("@", 1)[0].casefold())
        for item in candidates:
            if len(item) >= 4 and (folded == item or (len(item) >= 6 and item in folded)):
                raise WeakPassword(
                    "密码不能是或包含您的手机号、邮箱",
                    detail_en="Do not use your phone number or e-mail address in the password",
                    reason="contains_contact",
                )
    if folded in common_passwords():
        raise WeakPassword(
            "该密码过于常见，请换一个",
            detail_en="This password is too common; choose another",
            reason="common",
        )


_BROWSERS = (
    ("MicroMessenger", "微信"),
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx", "API"),
    ("python-requests", "API"),
    ("testclient", "API"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("Mac OS X", "macOS"),
    ("HarmonyOS", "HarmonyOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """Reduce a user agent to a coarse label such as "Chrome · Windows" (not identifying)."""
    browser = next((name for needle, name in _BROWSERS if needle in user_agent), "")
    system = next((name for needle, name in _SYSTEMS if needle in user_agent), "")
    label = " · ".join(part for part in (browser, system) if part)
    return label or "unknown"
