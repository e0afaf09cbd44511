"""Errors of the orgs domain, each with a stable problem type; details never carry personal data."""

from __future__ import annotations

from qianshu.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QianshuError,
    ServiceUnavailable,
)


class InvalidUscc(InvalidInput):
    """The unified social credit code breaks GB 32100-2015; `reason` names the rule."""

    slug = "invalid-uscc"
    title = "统一社会信用代码无效"
    title_en = "Invalid unified social credit code"


class OrgNotFound(NotFound):
    """No such organisation, or the caller is not a member of it."""

    slug = "org-not-found"
    title = "企业不存在或您不是其成员"
    title_en = "No such organisation (or you are not a member)"


class OrgForbidden(Forbidden):
    """The caller's role in the organisation does not allow this."""

    slug = "org-forbidden"
    title = "您在该企业中的角色无权执行此操作"
    title_en = "Your role in this organisation does not allow this"


class OrgStateConflict(Conflict):
    """The organisation's verification state forbids the change."""

    slug = "org-state-conflict"
    title = "企业认证状态不允许此操作"
    title_en = "The organisation's verification state does not allow this"


class OrgAlreadyVerified(Conflict):
    """Another organisation with this code is verified already."""

    slug = "org-already-verified"
    title = "该统一社会信用代码的企业已完成认证"
    title_en = "An organisation with this code is verified already"


class PersonNotVerified(Forbidden):
    """The acting user has not completed real-name verification."""

    slug = "person-not-verified"
    title = "请先完成个人实名认证"
    title_en = "Complete your real-name verification first"


class LegalRepCheckFailed(InvalidInput):
    """The legal representative's name and ID number did not pass the identity check."""

    slug = "legal-rep-check-failed"
    title = "法定代表人身份核验未通过"
    title_en = "The legal representative's identity check failed"


class UploadTooLarge(PayloadTooLarge):
    """An uploaded image is over the size limit."""

    slug = "upload-too-large"
    title = "上传的文件过大"
    title_en = "The uploaded file is too large"


class InvalidImage(InvalidInput):
    """An upload is not an image of an accepted format, or breaks the image rules."""

    slug = "invalid-image"
    title = "文件不是可接受的图片"
    title_en = "The file is not an acceptable image"


class DepositMismatch(InvalidInput):
    """The confirmed micro-deposit amount is wrong; `attempts_left` says how many tries remain."""

    slug = "deposit-mismatch"
    title = "打款金额不正确"
    title_en = "The amount does not match"


class DepositLocked(Conflict):
    """Too many wrong amounts, or the deposit expired: start a new one."""

    slug = "deposit-locked"
    title = "打款验证已失效，请重新发起"
    title_en = "This deposit check is no longer valid; start a new one"


class BankRejected(InvalidInput):
    """The bank refused the transfer (for example the account does not exist)."""

    slug = "bank-rejected"
    title = "银行未能完成打款"
    title_en = "The bank refused the transfer"


class BankUnavailable(ServiceUnavailable):
    """The bank transfer provider could not be reached or answered badly."""

    slug = "bank-unavailable"
    title = "银行打款服务暂不可用，请稍后再试"
    title_en = "The bank transfer service is unavailable"


class InvitationNotFound(NotFound):
    """No such invitation for this user (or it expired)."""

    slug = "invitation-not-found"
    title = "邀请不存在或已失效"
    title_en = "No such invitation (or it expired)"


class SealNotFound(NotFound):
    """No such seal in this organisation."""

    slug = "seal-not-found"
    title = "印章不存在"
    title_en = "No such seal"


__all__ = [
    "BankRejected",
    "BankUnavailable",
    "DepositLocked",
    "DepositMismatch",
    "InvalidImage",
    "InvalidUscc",
    "InvitationNotFound",
    "LegalRepCheckFailed",
    "OrgAlreadyVerified",
    "OrgForbidden",
    "OrgNotFound",
    "OrgStateConflict",
    "PersonNotVerified",
    "QianshuError",
    "SealNotFound",
    "UploadTooLarge",
]
