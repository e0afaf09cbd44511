"""Verification levels, the documents manual review accepts, and the consents each one needs.

Levels, weakest first: two elements (name + resident ID number), three elements (+ the mobile
number registered to that person), four elements (+ a bank card), face (a live photo compared with
the ID record). An approved manual review counts as four elements: a member of staff checked the
document images. Promise A4/A5; the separate consents are promise P2 (个人信息保护法 第29条).
"""

from __future__ import annotations

from typing import Literal

Level = Literal["two_elements", "three_elements", "four_elements", "face", "manual"]
AutoLevel = Literal["two_elements", "three_elements", "four_elements", "face"]
DocumentType = Literal[
    "resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_permanent_resident"
]

AUTO_LEVELS: tuple[AutoLevel, ...] = ("two_elements", "three_elements", "four_elements", "face")
LEVELS: tuple[Level, ...] = (*AUTO_LEVELS, "manual")
DOCUMENT_TYPES: tuple[DocumentType, ...] = (
    "resident_id",
    "passport",
    "hk_macao_permit",
    "taiwan_permit",
    "foreign_permanent_resident",
)

_RANK: dict[str, int] = {"two_elements": 1, "three_elements": 2, "four_elements": 3, "manual": 3, "face": 4}

PURPOSE_ID_NUMBER = "sensitive.id_number"
PURPOSE_BANK_CARD = "sensitive.bank_card"
PURPOSE_FACE = "sensitive.face"
PURPOSE_ID_DOCUMENT = "sensitive.id_document"
SENSITIVE_PURPOSES = (PURPOSE_ID_NUMBER, PURPOSE_BANK_CARD, PURPOSE_FACE, PURPOSE_ID_DOCUMENT)

_PURPOSES: dict[str, tuple[str, ...]] = {
    "two_elements": (PURPOSE_ID_NUMBER,),
    "three_elements": (PURPOSE_ID_NUMBER,),
    "four_elements": (PURPOSE_ID_NUMBER, PURPOSE_BANK_CARD),
    "face": (PURPOSE_ID_NUMBER, PURPOSE_FACE),
    "manual": (PURPOSE_ID_NUMBER, PURPOSE_ID_DOCUMENT),
}

# The fields each automatic level sends to the verification provider (the sharing register's "fields").
PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "two_elements": ("name", "id_number"),
    "three_elements": ("name", "id_number", "phone"),
    "four_elements": ("name", "id_number", "phone", "bank_card"),
    "face": ("name", "id_number", "face_image"),
}

LEVEL_LABELS: dict[str, tuple[str, str]] = {
    "two_elements": ("二要素认证（姓名 + 身份证号）", "Two elements (name + ID number)"),
    "three_elements": ("三要素认证（+ 本人手机号）", "Three elements (+ own mobile number)"),
    "four_elements": ("四要素认证（+ 本人银行卡）", "Four elements (+ own bank card)"),
    "face": ("刷脸认证（人像比对）", "Face check (photo compared with the ID record)"),
    "manual": ("人工审核（证件照片）", "Manual review (document images)"),
}

DOCUMENT_LABELS: dict[str, tuple[str, str]] = {
    "resident_id": ("中华人民共和国居民身份证", "PRC resident identity card"),
    "passport": ("护照", "Passport"),
    "hk_macao_permit": ("港澳居民来往内地通行证", "Mainland travel permit for Hong Kong and Macao residents"),
    "taiwan_permit": ("台湾居民来往大陆通行证", "Mainland travel permit for Taiwan residents"),
    "foreign_permanent_resident": ("外国人永久居留身份证", "Foreign permanent resident ID card"),
}


def rank(level: str | None) -> int:
    """Return the strength of `level` (0 for none or unknown)."""
    return _RANK.get(level or "", 0)


def meets(level: str | None, required: str) -> bool:
    """Tell whether a verified `level` satisfies the `required` one."""
    return level is not None and rank(level) >= rank(required)


def purposes_for(level: str) -> tuple[str, ...]:
    """Return the consent purposes a verification at `level` needs before collecting anything."""
    return _PURPOSES[level]


def label(level: str, locale: str = "zh-CN") -> str:
    """Return the level's name in `locale`."""
    zh, en = LEVEL_LABELS.get(level, (level, level))
    return en if locale.startswith("en") else zh


def document_label(doc_type: str, locale: str = "zh-CN") -> str:
    """Return the document type's name in `locale`."""
    zh, en = DOCUMENT_LABELS.get(doc_type, (doc_type, doc_type))
    return en if locale.startswith("en") else zh
