"""Masked display forms."""

from __future__ import annotations

from qianshu.vault.masking import mask_bank_card, mask_email, mask_id_number, mask_name, mask_phone


def test_mask_phone_keeps_first_three_and_last_four() -> None:
    assert mask_phone("13812345678") == "138****5678"


def test_mask_phone_short_values_reveal_little() -> None:
    assert mask_phone("12345") == "1***5"
    assert mask_phone("12") == "**"


def test_mask_name_keeps_the_family_name() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳修") == "欧**"
    assert mask_name("John Smith") == "J*** S****"
    assert mask_name("  ") == ""


def test_mask_id_number_keeps_four_and_four() -> None:
    assert mask_id_number("11010519491231123X") == "1101**********123X"


def test_mask_email_keeps_first_letter_and_domain() -> None:
    assert mask_email("zhang.san@example.com") == "z***@example.com"
    assert mask_email("not-an-address") == "***"


def test_mask_bank_card_keeps_last_four() -> None:
    assert mask_bank_card("6222021234567890123") == "**** **** **** 0123"
