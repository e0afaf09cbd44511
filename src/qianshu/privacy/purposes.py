"""The purposes a person consents to separately (个人信息保护法 第14条, 第29条).

Each purpose is granted and withdrawn on its own; sensitive purposes cover the sensitive personal
information of 第28条 (ID numbers, bank cards, biometrics). Other domains ask
`privacy_service.has_consent(..., purpose=...)` before processing for one of these purposes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Purpose:
    """One purpose of processing that needs its own consent."""

    key: str
    label: str
    label_en: str
    description: str
    description_en: str
    sensitive: bool


PURPOSES: dict[str, Purpose] = {
    p.key: p
    for p in (
        Purpose(
            "marketing",
            "营销信息",
            "Marketing messages",
            "向您的手机号码或电子邮箱发送产品和活动信息。",
            "Send news about products and offers to your phone or e-mail.",
            sensitive=False,
        ),
        Purpose(
            "sensitive.id_number",
            "身份证件号码",
            "ID number",
            "为实名认证处理您的身份证件号码，并提供给实名认证服务提供者核验。",
            "Process your ID number for real-name verification and have a verification provider check it.",
            sensitive=True,
        ),
        Purpose(
            "sensitive.bank_card",
            "银行卡信息",
            "Bank card",
            "为实名认证处理您的银行卡号，并提供给实名认证服务提供者核验。",
            "Process your bank card number for real-name verification and have a provider check it.",
            sensitive=True,
        ),
        Purpose(
            "sensitive.face",
            "面部图像",
            "Face image",
            "为刷脸认证采集您的面部图像，并提供给实名认证服务提供者比对。",
            "Capture your face image for a face check and have a verification provider compare it.",
            sensitive=True,
        ),
        Purpose(
            "sensitive.id_document",
            "证件图像",
            "ID document images",
            "自动认证未通过时，处理您上传的证件图像供人工审核。",
            "Process the ID document images you upload for manual review when automatic checks fail.",
            sensitive=True,
        ),
    )
}


def get_purpose(key: str) -> Purpose | None:
    """Return the purpose `key`, or None when it is not one we know."""
    return PURPOSES.get(key)
