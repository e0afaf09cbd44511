"""Errors of real-name verification; each detail tells the person what to do, never echoes their data."""

from __future__ import annotations

from typing import Any

from qianshu.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)


class InvalidIdNumber(InvalidInput):
    """The resident ID number breaks GB 11643-1999; `reason` names the rule."""

    slug = "invalid-id-number"
    title = "身份证号码有误"
    title_en = "Invalid resident ID number"


class InvalidDocumentNumber(InvalidInput):
    """The number of a passport, travel permit or permanent-residence card has the wrong form."""

    slug = "invalid-document-number"
    title = "证件号码有误"
    title_en = "Invalid document number"


class InvalidBankCard(InvalidInput):
    """The bank card number is not 13-19 digits or fails the Luhn check (ISO/IEC 7812-1 Annex B)."""

    slug = "invalid-bank-card"
    title = "银行卡号有误"
    title_en = "Invalid bank card number"


class InvalidMobile(InvalidInput):
    """Not a mainland China mobile number."""

    slug = "invalid-mobile"
    title = "手机号码有误"
    title_en = "Invalid mobile number"


class InvalidName(InvalidInput):
    """The name is not written in Chinese characters (with ·) or in Latin letters."""

    slug = "invalid-name"
    title = "姓名有误"
    title_en = "Invalid name"


class InvalidBirthDate(InvalidInput):
    """The birth date is missing, malformed or in the future."""

    slug = "invalid-birth-date"
    title = "出生日期有误"
    title_en = "Invalid birth date"


class InvalidImage(InvalidInput):
    """The upload is not a JPEG or PNG image that can be decoded."""

    slug = "invalid-image"
    title = "图片无法识别"
    title_en = "The image cannot be read"


class ImageTooLarge(PayloadTooLarge):
    """An uploaded image is over the configured size."""

    slug = "image-too-large"
    title = "图片过大"
    title_en = "The image is too large"


class ConsentRequired(Forbidden):
    """A sensitive purpose needs the person's separate consent first (promise P2)."""

    slug = "consent-required"
    title = "需要您的单独同意"
    title_en = "Your separate consent is needed"

    def __init__(self, missing: list[str], **extra: Any) -> None:
        from qianshu.privacy.purposes import get_purpose

        known = [p for p in (get_purpose(key) for key in missing) if p is not None]
        zh = "、".join(p.label for p in known) or "、".join(missing)
        en = ", ".join(p.label_en for p in known) or ", ".join(missing)
        super().__init__(
            f"处理您的敏感个人信息前需要您的单独同意：{zh}。请勾选同意后再提交。",
            detail_en=f"Your separate consent is needed before we process sensitive data: {en}. "
            "Tick the consent and submit again.",
            missing_purposes=missing,
            consent_url="/identity",
            **extra,
        )
        self.missing = missing


class AgeRestricted(Forbidden):
    """The person is younger than the platform serves (promise A8)."""

    slug = "age-restricted"
    title = "未达到使用年龄"
    title_en = "Below the minimum age"


class GuardianConsentRequired(Forbidden):
    """A minor may go on only with a verified guardian's recorded consent (个人信息保护法 第31条)."""

    slug = "guardian-consent-required"
    title = "需要监护人同意"
    title_en = "A guardian's consent is needed"


class IdentityTaken(Conflict):
    """Another account already verified with this document."""

    slug = "identity-taken"
    title = "该证件已被其他账户认证"
    title_en = "This document is already verified by another account"


class IdentityMismatch(Conflict):
    """The document differs from the one this account was verified with."""

    slug = "identity-mismatch"
    title = "与已认证的证件不一致"
    title_en = "Different from the verified document"


class VerificationNotFound(NotFound):
    """No such verification for this person (or for this operator's queue)."""

    slug = "verification-not-found"
    title = "未找到该认证记录"
    title_en = "No such verification"


class VerificationState(Conflict):
    """The verification is not in a state that allows this step."""

    slug = "verification-state"
    title = "认证状态不允许此操作"
    title_en = "The verification does not allow this step now"


class ReviewNotRevealed(Conflict):
    """An operator must look at the documents (reveal, with a reason) before deciding."""

    slug = "review-not-revealed"
    title = "请先查看证件材料"
    title_en = "Look at the documents first"


class GuardianRequestInvalid(InvalidInput):
    """The guardian code is unknown, used, expired, or the guardian cannot act for this child."""

    slug = "guardian-request-invalid"
    title = "监护人确认无效"
    title_en = "The guardian confirmation is not valid"


class IdentityRequired(Forbidden):
    """Signing (and other acts) need a verified identity at the configured level (promise A7)."""

    slug = "identity-required"
    title = "请先完成实名认证"
    title_en = "Real-name verification required"


class FaceMismatch(InvalidInput):
    """A face check did not match the portrait on record (or scored below the threshold)."""

    slug = "face-mismatch"
    title = "人脸核验未通过"
    title_en = "The face check did not match"

    def __init__(self) -> None:
        super().__init__(
            "人脸核验未通过：请在光线充足处正对镜头重新拍摄，或改用其他方式确认签署意愿",
            detail_en="The face check did not match: take the photo again facing the camera in good light, "
            "or confirm another way",
        )


class ProviderUnavailable(ServiceUnavailable):
    """The verification provider failed, timed out, or its circuit breaker is open.

    `reason` is one of timeout, connection, http_error, rejected, bad_response, breaker_open,
    not_configured; `sent` tells whether any request left this process (for the sharing register).
    """

    slug = "identity-provider-unavailable"
    title = "实名核验服务暂不可用"
    title_en = "The verification provider is unavailable"

    def __init__(self, reason: str, *, sent: bool, retrying: bool = True) -> None:
        if retrying:
            super().__init__(
                "实名核验服务暂不可用，已为您保留申请并将自动重试",
                detail_en="The verification provider is unavailable; we keep the request and retry automatically",
            )
        else:
            super().__init__(
                "实名核验服务暂不可用，本次核验未完成、未作任何认证，请稍后再试",
                detail_en="The verification provider is unavailable; nothing was checked or verified. Try again later",
                reason=reason,
            )
        self.reason = reason
        self.sent = sent
