"""Errors of the contracts domain, each with a stable problem type (RFC 9457)."""

from __future__ import annotations

from qianshu.core.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "ContractExpired",
    "ContractNotFound",
    "ContractState",
    "FieldInvalid",
    "LinkInvalid",
    "NotYourTurn",
    "RecipientInvalid",
    "SignerAccessRequired",
    "SignerAlreadySigned",
    "SignerMismatch",
    "SignerNotRegistered",
    "TemplateInvalid",
    "TemplateNotFound",
]


class ContractNotFound(NotFound):
    """No such contract or document (or not visible to this person)."""

    slug = "contract-not-found"
    title = "未找到该合同"
    title_en = "No such contract"


class TemplateNotFound(NotFound):
    """No such template (or not visible to this person)."""

    slug = "contract-template-not-found"
    title = "未找到该合同模板"
    title_en = "No such contract template"


class LinkInvalid(NotFound):
    """The signing link is unknown (mistyped, or never issued)."""

    slug = "signing-link-invalid"
    title = "签署链接无效"
    title_en = "The signing link is not valid"


class ContractState(Conflict):
    """The contract's state forbids the change (already sent, completed, declined, revoked)."""

    slug = "contract-state"
    title = "合同当前状态不允许此操作"
    title_en = "The contract's state does not allow this"


class ContractExpired(Conflict):
    """The contract's deadline has passed."""

    slug = "contract-expired"
    title = "合同已超过签署截止时间"
    title_en = "The contract's signing deadline has passed"


class SignerAlreadySigned(Conflict):
    """This signer has signed already."""

    slug = "signer-already-signed"
    title = "您已签署该合同"
    title_en = "You have already signed this contract"


class NotYourTurn(Conflict):
    """Signers earlier in the routing order have not signed yet."""

    slug = "signer-not-your-turn"
    title = "尚未轮到您签署，请等待前序签署方完成"
    title_en = "Earlier signers have not signed yet"


class SignerAccessRequired(Forbidden):
    """The signer has not yet proved control of the phone number or e-mail address."""

    slug = "signer-access-required"
    title = "请先验证手机号或邮箱"
    title_en = "Confirm your phone number or e-mail address first"


class SignerMismatch(Forbidden):
    """The signed-in account is not the recipient this link was sent to."""

    slug = "signer-mismatch"
    title = "当前账户不是该合同的签署人"
    title_en = "The signed-in account is not this link's recipient"


class SignerNotRegistered(Forbidden):
    """No account uses the recipient's phone or e-mail yet: register and verify first."""

    slug = "signer-not-registered"
    title = "请先使用接收签署通知的手机号或邮箱注册并完成实名认证"
    title_en = "Register with the phone or e-mail that received the link and verify your identity first"


class RecipientInvalid(InvalidInput):
    """A recipient is malformed (no contact, bad phone or e-mail, missing seal)."""

    slug = "contract-recipient-invalid"
    title = "签署方信息有误"
    title_en = "Invalid recipient"


class FieldInvalid(InvalidInput):
    """A field does not fit the document (no such page, off the page) or its value is wrong."""

    slug = "contract-field-invalid"
    title = "签署区域或填写内容有误"
    title_en = "Invalid field"


class TemplateInvalid(InvalidInput):
    """A template or the values given for it are wrong."""

    slug = "contract-template-invalid"
    title = "合同模板或变量有误"
    title_en = "Invalid template or values"
