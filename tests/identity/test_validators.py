"""Local validation: GB 11643 ID numbers, Luhn bank cards, mobile numbers, names, other documents."""

from __future__ import annotations

from datetime import date

import pytest

from qianshu.identity.errors import (
    InvalidBankCard,
    InvalidBirthDate,
    InvalidDocumentNumber,
    InvalidIdNumber,
    InvalidMobile,
    InvalidName,
)
from qianshu.identity.validators import (
    age_on,
    china_today,
    iso7064_mod11_2_check,
    luhn_valid,
    parse_bank_card,
    parse_birth_date,
    parse_document_number,
    parse_id_number,
    parse_mobile,
    parse_name,
)
from tests.identity.conftest import card_number, make_id

TODAY = date(2026, 1, 5)


def _reason(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(exc.value.extra["reason"])  # type: ignore[attr-defined]


def test_published_sample_number_has_check_character_x() -> None:
    # The sample of GB 11643-1999 Appendix A style: 11010519491231002X.
    assert iso7064_mod11_2_check("11010519491231002") == "X"
    parsed = parse_id_number("11010519491231002X", today=TODAY)
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.area_code == "110105"
    assert parsed.sex == "female"


def test_lower_case_x_is_accepted_and_upper_cased() -> None:
    assert parse_id_number("11010519491231002x", today=TODAY).number == "11010519491231002X"


def test_spaces_and_full_width_digits_are_normalised() -> None:
    number = make_id()
    spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
    assert parse_id_number(spaced, today=TODAY).number == number
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in number)
    assert parse_id_number(full_width, today=TODAY).number == number


@pytest.mark.parametrize("seq", ["123", "001", "998", "500"])
def test_every_correct_check_character_passes(seq: str) -> None:
    number = make_id(seq=seq)
    assert parse_id_number(number, today=TODAY).sequence == seq


def test_wrong_check_character_is_refused() -> None:
    number = make_id()
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(InvalidIdNumber) as exc:
        parse_id_number(wrong, today=TODAY)
    assert _reason(exc) == "check_character"
    assert "校验位" in exc.value.detail


def test_swapped_digits_are_caught_by_the_check_character() -> None:
    number = make_id(birth="19900307", seq="123")
    swapped = number[:14] + number[15] + number[14] + number[16:]
    with pytest.raises(InvalidIdNumber):
        parse_id_number(swapped, today=TODAY)


def test_future_birth_date_is_refused() -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        parse_id_number(make_id(birth="20260106"), today=TODAY)
    assert _reason(exc) == "birth_date_future"
    assert parse_id_number(make_id(birth="20260105"), today=TODAY).birth_date == TODAY


def test_impossible_birth_date_is_refused() -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        parse_id_number(make_id(birth="19900230"), today=TODAY)
    assert _reason(exc) == "birth_date_invalid"


def test_unknown_province_code_is_refused() -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        parse_id_number(make_id(area="990101"), today=TODAY)
    assert _reason(exc) == "area_code"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("110101199003071", "first_generation"),
        ("1101011990030712", "length"),
        ("11010119900307A23X", "characters"),
        ("X10101199003071234", "characters"),
    ],
)
def test_malformed_numbers_name_the_rule(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        parse_id_number(raw, today=TODAY)
    assert _reason(exc) == reason


def test_china_today_uses_beijing_time() -> None:
    from datetime import UTC, datetime

    assert china_today(datetime(2026, 1, 4, 17, 0, tzinfo=UTC)) == date(2026, 1, 5)
    assert china_today(datetime(2026, 1, 4, 15, 59, tzinfo=UTC)) == date(2026, 1, 4)


def test_age_counts_completed_years() -> None:
    assert age_on(date(2008, 1, 5), TODAY) == 18
    assert age_on(date(2008, 1, 6), TODAY) == 17
    assert age_on(date(2004, 2, 29), date(2026, 2, 28)) == 21
    assert age_on(date(2004, 2, 29), date(2026, 3, 1)) == 22


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid(card_number("622202020011234567"))
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")
    assert not luhn_valid("7992739871a")


def test_bank_card_checks() -> None:
    assert parse_bank_card("4111 1111 1111 1111") == "4111111111111111"
    with pytest.raises(InvalidBankCard) as exc:
        parse_bank_card("4111111111111112")
    assert _reason(exc) == "check_digit"
    with pytest.raises(InvalidBankCard) as exc:
        parse_bank_card("411111111111")
    assert _reason(exc) == "length"
    with pytest.raises(InvalidBankCard) as exc:
        parse_bank_card("4111-1111-1111-111a")
    assert _reason(exc) == "characters"


def test_mobile_numbers() -> None:
    assert parse_mobile("+86 138-1234-5678") == "13812345678"
    assert parse_mobile("008613812345678") == "13812345678"
    for bad in ("", "12812345678", "1381234567", "021-12345678"):
        with pytest.raises(InvalidMobile):
            parse_mobile(bad)


def test_names_chinese_latin_and_middle_dots() -> None:
    assert parse_name("张三") == "张三"
    assert parse_name(" 欧阳 娜娜 ") == "欧阳娜娜"
    assert parse_name("阿依古丽•买买提") == "阿依古丽·买买提"
    assert parse_name("阿依古丽.买买提") == "阿依古丽·买买提"
    assert parse_name("John  O’Neil") == "John O'Neil"
    assert parse_name("José García-López") == "José García-López"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("张", "length"),
        ("张3", "digits"),
        ("·张三", "middle_dot"),
        ("张三·", "middle_dot"),
        ("阿依··买买提", "middle_dot"),
        ("张San", "characters"),
        ("Иван Петров", "characters"),
        ("J", "length"),
    ],
)
def test_bad_names_name_the_rule(raw: str, reason: str) -> None:
    with pytest.raises(InvalidName) as exc:
        parse_name(raw)
    assert _reason(exc) == reason


def test_other_documents() -> None:
    assert parse_document_number("passport", "e1234 5678", today=TODAY) == ("E12345678", None)
    assert parse_document_number("hk_macao_permit", "H12345678", today=TODAY) == ("H12345678", None)
    assert parse_document_number("taiwan_permit", "12345678", today=TODAY) == ("12345678", None)
    assert (
        parse_document_number("foreign_permanent_resident", "USA330720500101", today=TODAY)[0]
        == "USA330720500101"
    )
    body = "911840" + "19850101" + "123"
    _number, born = parse_document_number(
        "foreign_permanent_resident", body + iso7064_mod11_2_check(body), today=TODAY
    )
    assert born == date(1985, 1, 1)
    resident = make_id()
    assert parse_document_number("resident_id", resident, today=TODAY) == (resident, date(1990, 3, 7))
    for doc_type, raw in (
        ("passport", "E1"),
        ("hk_macao_permit", "X12345678"),
        ("taiwan_permit", "1234567"),
        ("foreign_permanent_resident", "9" * 18),
    ):
        with pytest.raises(InvalidDocumentNumber):
            parse_document_number(doc_type, raw, today=TODAY)


def test_birth_dates() -> None:
    assert parse_birth_date("1990-03-07", today=TODAY) == date(1990, 3, 7)
    for bad, reason in (
        ("", "empty"),
        ("07/03/1990", "format"),
        ("2026-01-06", "future"),
        ("1899-12-31", "too_early"),
    ):
        with pytest.raises(InvalidBirthDate) as exc:
            parse_birth_date(bad, today=TODAY)
        assert _reason(exc) == reason
