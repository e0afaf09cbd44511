"""Unified social credit codes (GB 32100-2015): check character, structure, organisation code."""

from __future__ import annotations

import pytest

from qianshu.orgs.uscc import CHARSET, UsccError, check_character, organisation_code_check, parse_uscc
from tests.orgs.conftest import USCC_CODES


@pytest.mark.parametrize("code", USCC_CODES)
def test_real_format_codes_are_valid(code: str) -> None:
    info = parse_uscc(code)
    assert info.code == code
    assert check_character(code[:17]) == code[17]
    assert organisation_code_check(code[8:16]) == code[16]


def test_the_standard_sample_code_parses_into_its_parts() -> None:
    info = parse_uscc("91350100M000100Y43")
    assert (info.authority, info.category, info.division, info.organisation_code) == (
        "9",
        "1",
        "350100",
        "M000100Y4",
    )
    assert info.authority_label == "工商" and info.category_label == "企业"
    assert parse_uscc("12100000400000624D").category_label == "事业单位"


def test_weights_are_powers_of_three_mod_31() -> None:
    # GB 32100-2015: W_i = 3^(i-1) mod 31; the published table begins 1 3 9 27 19 26 16 17 20 29.
    from qianshu.orgs.uscc import _WEIGHTS

    assert _WEIGHTS[:10] == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29)
    assert _WEIGHTS[-1] == 28
    assert len(CHARSET) == 31 and not set("IOZSV") & set(CHARSET)


def test_check_value_thirty_one_maps_to_zero() -> None:
    # Find a body whose weighted sum is a multiple of 31: its check character must be "0".
    body = "91110000" + "MA0000"
    for tail in (f"{n:03d}" for n in range(1000)):
        candidate = body + tail
        if check_character(candidate) == "0":
            assert sum(CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(candidate)) % 31 == 0
            return
    pytest.fail("no body with check character 0 found")


def test_input_is_normalised() -> None:
    assert parse_uscc(" 9135 0100-m000100y43 ").code == "91350100M000100Y43"
    assert parse_uscc("９１３５０１００Ｍ０００１００Ｙ４３").code == "91350100M000100Y43"  # full-width


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y4", "length"),
        ("91350100M000100Y433", "length"),
        ("", "length"),
        ("91350100M000100I43", "charset"),  # I is not in the set
        ("91350100M00O100Y43", "charset"),  # O is not in the set
        ("B1350100M000100Y43", "authority"),
        ("91AB0100M000100Y43", "division"),
        ("91990100M000100Y43", "division"),  # 99 is not a province
        ("91350100M000100Y53", "organisation_code"),  # organisation-code check broken
        ("91350100M000100Y44", "check_character"),
        ("91330100716105852G", "check_character"),
    ],
)
def test_invalid_codes_name_the_failed_rule(code: str, reason: str) -> None:
    with pytest.raises(UsccError) as info:
        parse_uscc(code)
    assert info.value.reason == reason
    assert info.value.message and info.value.message_en


def test_every_single_character_change_is_caught() -> None:
    code = "91330100716105852F"
    for i in range(18):
        for ch in CHARSET:
            if ch == code[i]:
                continue
            mutated = code[:i] + ch + code[i + 1 :]
            with pytest.raises(UsccError):
                parse_uscc(mutated)
