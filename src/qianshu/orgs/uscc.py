"""Unified social credit codes (统一社会信用代码) per GB 32100-2015.

Structure (GB 32100-2015 §4): 18 characters from a 31-character set (digits and upper-case
letters without I, O, Z, S, V):

    position 1      registration authority code (登记管理部门代码)
    position 2      organisation category code (机构类别代码)
    positions 3-8   administrative division code of the registration authority (GB/T 2260)
    positions 9-17  subject identifier: the organisation code of GB 11714-1997
    position 18     check character

Check character (GB 32100-2015, check-character clause): with character values 0-30 in the order
of the character set and weights W_i = 3^(i-1) mod 31 for i = 1..17,
C18 = 31 - (sum(C_i * W_i) mod 31), where 31 maps to 0.

The embedded organisation code carries its own check character (GB 11714-1997): weights
3, 7, 9, 10, 5, 8, 4, 2 over the first eight characters (digits at face value, letters A=10 …
Z=35), C9 = 11 - (sum mod 11), where 10 is written `X` and 11 is written `0`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "CHARSET",
    "UsccError",
    "UsccInfo",
    "check_character",
    "organisation_code_check",
    "parse_uscc",
]

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(CHARSET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, …, 28
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Registration authority codes and their organisation categories (GB 32100-2015 Annex A,
# with amendment No. 1 adding A and N). Unknown categories are allowed but labelled as such.
_AUTHORITIES: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "1": (
        "机构编制",
        "Establishment administration",
        {
            "1": ("机关", "Government body"),
            "2": ("事业单位", "Public institution"),
            "3": ("中央编办直接管理机构编制的群众团体", "Mass organisation"),
            "9": ("其他", "Other"),
        },
    ),
    "2": (
        "外交",
        "Foreign affairs",
        {"1": ("外国常驻新闻机构", "Foreign news agency office"), "9": ("其他", "Other")},
    ),
    "3": (
        "司法行政",
        "Judicial administration",
        {
            "1": ("律师执业机构", "Law firm"),
            "2": ("公证处", "Notary office"),
            "3": ("基层法律服务所", "Legal service office"),
            "4": ("司法鉴定机构", "Forensic appraisal institution"),
            "5": ("仲裁委员会", "Arbitration commission"),
            "9": ("其他", "Other"),
        },
    ),
    "4": ("文化", "Culture", {"1": ("外国在华文化中心", "Foreign cultural centre"), "9": ("其他", "Other")}),
    "5": (
        "民政",
        "Civil affairs",
        {
            "1": ("社会团体", "Social organisation"),
            "2": ("民办非企业单位", "Private non-enterprise unit"),
            "3": ("基金会", "Foundation"),
            "9": ("其他", "Other"),
        },
    ),
    "6": (
        "旅游",
        "Tourism",
        {
            "1": ("外国旅游部门常驻代表机构", "Foreign tourism office"),
            "2": ("港澳台地区旅游部门常驻内地（大陆）代表机构", "HK/Macau/Taiwan tourism office"),
            "9": ("其他", "Other"),
        },
    ),
    "7": (
        "宗教",
        "Religious affairs",
        {
            "1": ("宗教活动场所", "Place of religious activity"),
            "2": ("宗教院校", "Religious school"),
            "9": ("其他", "Other"),
        },
    ),
    "8": ("工会", "Trade unions", {"1": ("基层工会", "Grass-roots trade union"), "9": ("其他", "Other")}),
    "9": (
        "工商",
        "Market regulation",
        {
            "1": ("企业", "Enterprise"),
            "2": ("个体工商户", "Individual business"),
            "3": ("农民专业合作社", "Farmers' co-operative"),
        },
    ),
    "A": (
        "中央军委改革和编制办公室",
        "Military establishment office",
        {
            "1": ("军队事业单位", "Military public institution"),
            "9": ("其他", "Other"),
        },
    ),
    "N": (
        "农业",
        "Agriculture",
        {
            "1": ("组级集体经济组织", "Group-level collective"),
            "2": ("村级集体经济组织", "Village-level collective"),
            "3": ("乡镇级集体经济组织", "Township-level collective"),
            "9": ("其他", "Other"),
        },
    ),
    "Y": ("其他", "Other", {"1": ("其他", "Other")}),
}
# First two digits of a GB/T 2260 division code (provinces), plus 10 for national registration.
_PROVINCES = frozenset(
    {
        "10",
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    }
)


class UsccError(ValueError):
    """A code that is not a valid USCC; `reason` is a stable key, the messages say why."""

    def __init__(self, reason: str, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.reason = reason
        self.message = message
        self.message_en = message_en


@dataclass(frozen=True)
class UsccInfo:
    """A valid code and what its parts say."""

    code: str
    authority: str
    authority_label: str
    authority_label_en: str
    category: str
    category_label: str
    category_label_en: str
    division: str
    organisation_code: str


def check_character(first17: str) -> str:
    """Return the check character of the first 17 characters (GB 32100-2015 MOD 31)."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def organisation_code_check(body8: str) -> str:
    """Return the check character of an organisation code's 8-character body (GB 11714-1997)."""
    remainder = 11 - sum(_org_value(ch) * w for ch, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else "0" if remainder == 11 else str(remainder)


def normalise_uscc(value: str) -> str:
    """Return the code NFKC-normalised, without spaces or hyphens, upper-cased."""
    text = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper()


def parse_uscc(value: str) -> UsccInfo:
    """Validate a USCC and return its parts; raise UsccError naming the failed rule."""
    code = normalise_uscc(value)
    if len(code) != 18:
        raise UsccError("length", "统一社会信用代码应为 18 位", "A unified social credit code has 18 characters")
    bad = [ch for ch in code if ch not in _VALUE]
    if bad:
        raise UsccError(
            "charset",
            "统一社会信用代码只能包含数字和大写字母（不含 I、O、Z、S、V）",
            "Only digits and capital letters other than I, O, Z, S, V are allowed",
        )
    authority = _AUTHORITIES.get(code[0])
    if authority is None:
        raise UsccError("authority", "第 1 位登记管理部门代码无效", "Position 1 is not a registration authority code")
    division = code[2:8]
    if not division.isdigit() or division[:2] not in _PROVINCES:
        raise UsccError("division", "第 3–8 位行政区划码无效", "Positions 3-8 are not an administrative division code")
    org_code = code[8:17]
    if organisation_code_check(org_code[:8]) != org_code[8]:
        raise UsccError(
            "organisation_code",
            "第 9–17 位组织机构代码校验位错误",
            "Positions 9-17 fail the organisation code check (GB 11714)",
        )
    if check_character(code[:17]) != code[17]:
        raise UsccError("check_character", "第 18 位校验码错误", "The check character (position 18) is wrong")
    auth_label, auth_label_en, categories = authority
    cat_label, cat_label_en = categories.get(code[1], ("未知类别", "Unknown category"))
    return UsccInfo(
        code=code,
        authority=code[0],
        authority_label=auth_label,
        authority_label_en=auth_label_en,
        category=code[1],
        category_label=cat_label,
        category_label_en=cat_label_en,
        division=division,
        organisation_code=org_code,
    )
