"""Local validation before any provider is called: ID numbers, bank cards, mobile numbers, names.

Every refusal raises an `InvalidInput` subclass whose detail tells the person what to fix and whose
`reason` (in the problem body) names the rule for programs. Nothing here echoes the input back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from qianshu.identity.errors import (
    InvalidBankCard,
    InvalidBirthDate,
    InvalidDocumentNumber,
    InvalidIdNumber,
    InvalidMobile,
    InvalidName,
)

__all__ = [
    "ResidentId",
    "age_on",
    "china_today",
    "iso7064_mod11_2_check",
    "luhn_valid",
    "parse_bank_card",
    "parse_birth_date",
    "parse_document_number",
    "parse_id_number",
    "parse_mobile",
    "parse_name",
]

_BEIJING = timezone(timedelta(hours=8))
_EARLIEST_BIRTH = date(1900, 1, 1)

# GB/T 2260 province-level codes (first two digits of the address code), plus 81/82/83 used by the
# residence permits of Hong Kong, Macao and Taiwan residents, which share the GB 11643 format.
_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip
# ISO 7064:2003 MOD 11-2: the weight of the character at position i (1-based, counted from the
# right, the check character being position 1) is 2^(i-1) mod 11; GB 11643-1999 §6.2 lists them.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_SEPARATORS = re.compile(r"[\s\-]")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
# Middle-dot look-alikes people type between the parts of a minority or transliterated name.
_DOTS = str.maketrans({c: "·" for c in "•‧・･∙⋅.．。"})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ResidentId:
    """A resident ID number that passed every GB 11643-1999 check."""

    number: str  # 18 characters, check character `X` upper-cased
    area_code: str
    birth_date: date
    sequence: str
    sex: Literal["male", "female"]


def china_today(now: datetime) -> date:
    """Return the calendar date in Beijing time (ID birth dates are Chinese calendar dates)."""
    return now.astimezone(_BEIJING).date()


def age_on(birth: date, today: date) -> int:
    """Return the completed years between `birth` and `today` (29 February birthdays count on 1 March)."""
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def iso7064_mod11_2_check(digits: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character of 17 digits (GB 11643-1999 §6.2)."""
    total = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def _compact(raw: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))


def _id_error(reason: str, zh: str, en: str) -> InvalidIdNumber:
    return InvalidIdNumber(zh, detail_en=en, reason=reason)


def _birth(text: str, today: date, *, error: type[InvalidIdNumber] | type[InvalidDocumentNumber]) -> date:
    try:
        born = date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise error(
            "证件号码中的出生日期（第 7 至 14 位）不是有效日期，请逐位核对",
            detail_en="The birth date in the number (characters 7-14) is not a real date; check each digit",
            reason="birth_date_invalid",
        ) from None
    if born > today:
        raise error(
            "证件号码中的出生日期晚于今天，请逐位核对",
            detail_en="The birth date in the number is in the future; check each digit",
            reason="birth_date_future",
        )
    if born < _EARLIEST_BIRTH:
        raise error(
            "证件号码中的出生日期早于 1900 年，请逐位核对",
            detail_en="The birth date in the number is before 1900; check each digit",
            reason="birth_date_invalid",
        )
    return born


def parse_id_number(raw: str, *, today: date) -> ResidentId:
    """Check a resident ID number per GB 11643-1999 and return its parts.

    §5: 6-digit address code, 8-digit birth date (YYYYMMDD), 3-digit sequence code (odd: male),
    1 check character (ISO 7064 MOD 11-2, §6.2). Spaces and hyphens are dropped, full-width digits
    are read as digits and a lower-case `x` is accepted and upper-cased.
    """
    value = _compact(raw).upper()
    if not value:
        raise _id_error("empty", "请填写身份证号码", "Enter your resident ID number")
    if len(value) == 15 and value.isdigit():
        raise _id_error(
            "first_generation",
            "这是 15 位的第一代身份证号码，已停止使用，请填写 18 位的第二代居民身份证号码",
            "This is a retired 15-digit first-generation number; enter the 18-character number",
        )
    if len(value) != 18:
        raise _id_error(
            "length",
            f"身份证号码应为 18 位（17 位数字加 1 位数字或 X），您填写了 {len(value)} 位",
            f"A resident ID number has 18 characters (17 digits and a digit or X); you entered {len(value)}",
        )
    body, check = value[:17], value[17]
    if not body.isascii() or not body.isdigit() or not (check.isdigit() or check == "X"):
        raise _id_error(
            "characters",
            "身份证号码前 17 位只能是数字，最后一位是数字或字母 X",
            "The first 17 characters must be digits and the last a digit or the letter X",
        )
    if body[:2] not in _PROVINCES:
        raise _id_error(
            "area_code",
            "身份证号码前 6 位地址码无效（前两位不是省级行政区代码），请核对",
            "The 6-digit address code at the start is not valid (unknown province code); check it",
        )
    born = _birth(body[6:14], today, error=InvalidIdNumber)
    if iso7064_mod11_2_check(body) != check:
        raise _id_error(
            "check_character",
            "身份证号码校验位不符，请逐位核对（常见原因：输错一位或两位数字颠倒）",
            "The check character does not match; check each character (a typo or two swapped digits)",
        )
    return ResidentId(
        number=value,
        area_code=body[:6],
        birth_date=born,
        sequence=body[14:17],
        sex="male" if int(body[16]) % 2 else "female",
    )


def luhn_valid(digits: str) -> bool:
    """Tell whether a digit string passes the Luhn check (ISO/IEC 7812-1 Annex B)."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def parse_bank_card(raw: str) -> str:
    """Return a bank card number as digits (13-19, ISO/IEC 7812-1 §4), checked with Luhn."""
    value = _compact(raw)
    if not value:
        raise InvalidBankCard("请填写银行卡号", detail_en="Enter your bank card number", reason="empty")
    if not value.isascii() or not value.isdigit():
        raise InvalidBankCard(
            "银行卡号只能包含数字", detail_en="A bank card number has digits only", reason="characters"
        )
    if not 13 <= len(value) <= 19:
        raise InvalidBankCard(
            f"银行卡号应为 13 至 19 位数字，您填写了 {len(value)} 位",
            detail_en=f"A bank card number has 13 to 19 digits; you entered {len(value)}",
            reason="length",
        )
    if not luhn_valid(value):
        raise InvalidBankCard(
            "银行卡号校验未通过，请逐位核对卡面上的号码",
            detail_en="The card number fails its check digit; compare it digit by digit with the card",
            reason="check_digit",
        )
    return value


def parse_mobile(raw: str) -> str:
    """Return a mainland mobile number as 11 digits (MIIT numbering plan: 13x-19x), +86 removed."""
    value = re.sub(r"[\s\-().]", "", unicodedata.normalize("NFKC", raw or ""))
    for prefix in ("+86", "0086", "86"):
        if value.startswith(prefix) and len(value) - len(prefix) == 11:
            value = value[len(prefix) :]
            break
    if not value:
        raise InvalidMobile("请填写手机号码", detail_en="Enter your mobile number", reason="empty")
    if not _MOBILE_RE.fullmatch(value):
        raise InvalidMobile(
            "请填写 11 位中国大陆手机号码（1 开头）",
            detail_en="Enter an 11-digit mainland China mobile number (starting with 1)",
            reason="format",
        )
    return value


def _is_han(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x3134F
        or ch == "〇"
    )


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and "LATIN" in unicodedata.name(ch, "")


def _name_error(reason: str, zh: str, en: str) -> InvalidName:
    return InvalidName(zh, detail_en=en, reason=reason)


def parse_name(raw: str) -> str:
    """Return a personal name as written on the ID: Chinese characters (parts joined by `·`) or Latin.

    Chinese: 2-40 characters, middle-dot look-alikes (•, ・, ．…) become `·` (U+00B7), which may
    only stand between characters. Latin (passports, permits): 2-64 characters of letters, spaces,
    hyphens, apostrophes and full stops, starting with a letter.
    """
    value = _SPACES.sub(" ", unicodedata.normalize("NFC", raw or "")).strip()
    if not value:
        raise _name_error("empty", "请填写姓名", "Enter your name")
    if any(ch.isdigit() for ch in value):
        raise _name_error("digits", "姓名不能包含数字", "A name cannot contain digits")
    has_han = any(_is_han(ch) for ch in value)
    if has_han:
        value = value.replace(" ", "").translate(_DOTS)
        if any(not (_is_han(ch) or ch == "·") for ch in value):
            raise _name_error(
                "characters",
                "中文姓名只能包含汉字和间隔号“·”；外籍人士请按证件上的拉丁字母拼写填写",
                "A Chinese name has Chinese characters and the middle dot (·) only; "
                "foreign names are written in Latin letters as on the document",
            )
        if value.startswith("·") or value.endswith("·") or "··" in value:
            raise _name_error(
                "middle_dot",
                "间隔号“·”只能用在姓名的两部分之间，不能在开头、结尾或连续出现",
                "The middle dot (·) goes only between two parts of the name",
            )
        if not 2 <= len(value) <= 40:
            raise _name_error(
                "length",
                "中文姓名应为 2 至 40 个字符，请按身份证上的姓名填写",
                "A Chinese name has 2 to 40 characters; write it as on the ID card",
            )
        return value
    if any(not (_is_latin_letter(ch) or ch in " -'’.") for ch in value):
        raise _name_error(
            "characters",
            "姓名只能使用汉字，或按证件上的拼写使用拉丁字母（可含空格、连字符、撇号）",
            "Write the name in Chinese characters, or in Latin letters as on the document "
            "(spaces, hyphens and apostrophes allowed)",
        )
    if not _is_latin_letter(value[0]) or sum(1 for ch in value if ch.isalpha()) < 2 or len(value) > 64:
        raise _name_error(
            "length",
            "拉丁字母姓名应以字母开头，长度为 2 至 64 个字符",
            "A Latin-script name starts with a letter and has 2 to 64 characters",
        )
    return value.replace("’", "'")


_DOC_PATTERNS: dict[str, tuple[re.Pattern[str], str, str]] = {
    # ICAO Doc 9303 Part 4 §4.2.2: document numbers are letters and digits; allow national variants.
    "passport": (re.compile(r"^[A-Z0-9]{5,20}$"), "护照号码应为 5 至 20 位字母或数字",
                 "A passport number has 5 to 20 letters or digits"),
    "hk_macao_permit": (re.compile(r"^[HM]\d{8}(\d{2})?$"),
                        "港澳居民来往内地通行证号码为 H 或 M 开头，后跟 8 位（旧版 10 位）数字",
                        "The permit number is H or M followed by 8 digits (10 on older permits)"),
    "taiwan_permit": (re.compile(r"^(\d{8}|\d{10}[A-Z]?)$"),
                      "台湾居民来往大陆通行证号码为 8 位数字（旧版为 10 位数字，可带 1 个字母）",
                      "The permit number has 8 digits (older permits: 10 digits and maybe a letter)"),
}  # fmt: skip
_OLD_FPR = re.compile(r"^[A-Z]{3}\d{12}$")


def parse_document_number(doc_type: str, raw: str, *, today: date) -> tuple[str, date | None]:
    """Check a document number's form; return it normalised and the birth date it encodes, if any.

    Resident ID cards follow GB 11643-1999. The 2023 foreign permanent resident ID card uses the
    same 18-character layout starting with 9 (birth date and MOD 11-2 check); the 2004/2017 card
    has 3 letters (ISO 3166-1 alpha-3) and 12 digits.
    """
    if doc_type == "resident_id":
        parsed = parse_id_number(raw, today=today)
        return parsed.number, parsed.birth_date
    value = _compact(raw).upper()
    if not value:
        raise InvalidDocumentNumber("请填写证件号码", detail_en="Enter the document number", reason="empty")
    if doc_type == "foreign_permanent_resident":
        if _OLD_FPR.fullmatch(value):
            return value, None
        if len(value) == 18 and value.startswith("9") and value[:17].isdigit():
            born = _birth(value[6:14], today, error=InvalidDocumentNumber)
            if iso7064_mod11_2_check(value[:17]) != value[17]:
                raise InvalidDocumentNumber(
                    "证件号码校验位不符，请逐位核对",
                    detail_en="The check character does not match; check each character",
                    reason="check_character",
                )
            return value, born
        raise InvalidDocumentNumber(
            "外国人永久居留身份证号码为 18 位（9 开头）或 3 位字母加 12 位数字",
            detail_en="The card number has 18 characters starting with 9, or 3 letters and 12 digits",
            reason="format",
        )
    pattern = _DOC_PATTERNS.get(doc_type)
    if pattern is None:
        raise InvalidDocumentNumber("不支持该证件类型", detail_en="Unsupported document type", reason="type")
    regex, zh, en = pattern
    if not regex.fullmatch(value):
        raise InvalidDocumentNumber(zh, detail_en=en, reason="format")
    return value, None


def parse_birth_date(raw: str | date | None, *, today: date) -> date:
    """Return a birth date given as YYYY-MM-DD, refusing dates in the future or before 1900."""
    if isinstance(raw, date):
        born = raw
    else:
        text = (raw or "").strip()
        if not text:
            raise InvalidBirthDate(
                "请填写证件上的出生日期",
                detail_en="Enter the birth date shown on the document",
                reason="empty",
            )
        try:
            born = date.fromisoformat(text)
        except ValueError:
            raise InvalidBirthDate(
                "出生日期格式应为 年-月-日，例如 1990-03-07",
                detail_en="Write the birth date as YYYY-MM-DD, e.g. 1990-03-07",
                reason="format",
            ) from None
    if born > today:
        raise InvalidBirthDate(
            "出生日期不能晚于今天", detail_en="The birth date cannot be in the future", reason="future"
        )
    if born < _EARLIEST_BIRTH:
        raise InvalidBirthDate(
            "出生日期不能早于 1900 年", detail_en="The birth date cannot be before 1900", reason="too_early"
        )
    return born
