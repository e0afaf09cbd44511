"""Message templates in zh-CN and en: a text message and an e-mail (subject + body) for each.

Templates are `str.format` strings over the caller's params plus `site_name` and `base_url`.
Each template names the params it needs; a missing or unknown param is an error, so a typo in a
caller cannot send a message with a hole in it. Param values are short single-line text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from qianshu.core.errors import InvalidInput
from qianshu.notify.schemas import Channel, RenderedMessage

DEFAULT_LOCALE = "zh-CN"
_MAX_PARAM = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class UnknownTemplate(InvalidInput):
    """No message template has that name."""

    slug = "notify-unknown-template"
    title = "消息模板不存在"
    title_en = "No such message template"


class BadTemplateParams(InvalidInput):
    """The params do not fit the template."""

    slug = "notify-bad-params"
    title = "消息参数有误"
    title_en = "The message parameters do not fit the template"


@dataclass(frozen=True)
class MessageText:
    """One template in one locale."""

    sms: str
    email_subject: str
    email_body: str


@dataclass(frozen=True)
class Template:
    """A template: the params it needs and its text per locale."""

    params: frozenset[str]
    texts: dict[str, MessageText]


def _otp(action_zh: str, action_en: str, subject_zh: str, subject_en: str) -> Template:
    return Template(
        params=frozenset({"code", "minutes"}),
        texts={
            "zh-CN": MessageText(
                sms=f"【{{site_name}}】您正在{action_zh}，验证码 {{code}}，{{minutes}} 分钟内有效。"
                "请勿告诉他人；如非本人操作，请忽略本短信。",
                email_subject=f"{{site_name}}：{subject_zh}",
                email_body=(
                    f"您好：\n\n您正在{action_zh}，验证码为：\n\n    {{code}}\n\n"
                    "验证码 {minutes} 分钟内有效。请勿把验证码告诉任何人，"
                    "平台工作人员不会向您索要验证码。\n\n"
                    "如非本人操作，请忽略本邮件，您的账户不会有任何变化。\n\n"
                    "{site_name}\n{base_url}\n"
                ),
            ),
            "en": MessageText(
                sms=f"[{{site_name}}] Your code to {action_en} is {{code}}. "
                "It expires in {minutes} minutes. "
                "Never share it. If this wasn't you, ignore this message.",
                email_subject=f"{{site_name}}: {subject_en}",
                email_body=(
                    f"Hello,\n\nYour code to {action_en} is:\n\n    {{code}}\n\n"
                    "It expires in {minutes} minutes. Never share it with anyone: our staff will never ask "
                    "for it.\n\nIf this wasn't you, ignore this e-mail; nothing changes on your account.\n\n"
                    "{site_name}\n{base_url}\n"
                ),
            ),
        },
    )


def _notice(*, params: set[str], zh: str, en: str, subject_zh: str, subject_en: str) -> Template:
    """Build a one-line notice: the line as the SMS, the same line in an e-mail."""
    return Template(
        params=frozenset(params),
        texts={
            "zh-CN": MessageText(
                sms="【{site_name}】" + zh,
                email_subject="{site_name}：" + subject_zh,
                email_body="您好：\n\n" + zh + "\n\n{site_name}\n{base_url}\n",
            ),
            "en": MessageText(
                sms="[{site_name}] " + en,
                email_subject="{site_name}: " + subject_en,
                email_body="Hello,\n\n" + en + "\n\n{site_name}\n{base_url}\n",
            ),
        },
    )


TEMPLATES: dict[str, Template] = {
    "otp_register": _otp("注册账户", "sign up", "注册验证码", "your sign-up code"),
    "otp_login": _otp("登录账户", "sign in", "登录验证码", "your sign-in code"),
    "otp_reset": _otp("重置登录密码", "reset your password", "重置密码验证码", "your password reset code"),
    "otp_change_contact": _otp(
        "更换账户的手机号或邮箱",
        "change your phone number or e-mail address",
        "更换联系方式验证码",
        "your code to change contact details",
    ),
    "policy_updated": Template(
        params=frozenset({"version"}),
        texts={
            "zh-CN": MessageText(
                sms="【{site_name}】我们更新了隐私政策（版本 {version}），"
                "请登录后阅读并确认：{base_url}/privacy",
                email_subject="{site_name}：隐私政策已更新（版本 {version}）",
                email_body=(
                    "您好：\n\n我们更新了隐私政策，新版本为 {version}。"
                    "您可以在这里阅读全文以及本次的变更说明：\n\n"
                    "    {base_url}/privacy\n\n"
                    "如本次为重大变更，您下次登录时需要阅读并同意新版本后才能继续使用。"
                    "您也可以随时在账户中管理或撤回各项授权。\n\n{site_name}\n"
                ),
            ),
            "en": MessageText(
                sms="[{site_name}] We updated our privacy policy (version {version}). "
                "Please sign in to read and accept it: {base_url}/privacy",
                email_subject="{site_name}: our privacy policy changed (version {version})",
                email_body=(
                    "Hello,\n\nWe updated our privacy policy; the new version is {version}. Read it and what "
                    "changed here:\n\n    {base_url}/privacy\n\nIf the change is major, you will be asked to "
                    "accept it the next time you sign in. You can manage or withdraw your consents in your "
                    "account at any time.\n\n{site_name}\n"
                ),
            ),
        },
    ),
    "account_locked": Template(
        params=frozenset({"minutes"}),
        texts={
            "zh-CN": MessageText(
                sms="【{site_name}】您的账户因多次登录失败已被暂时锁定，{minutes} 分钟后自动解锁。"
                "如非本人操作，请尽快重置密码。",
                email_subject="{site_name}：账户已被暂时锁定",
                email_body=(
                    "您好：\n\n由于连续多次登录失败，您的账户已被暂时锁定，{minutes} 分钟后自动解锁。\n\n"
                    "如果这些登录不是您本人所为，请在解锁后立即重置密码：\n\n"
                    "    {base_url}/password-reset\n\n"
                    "{site_name}\n"
                ),
            ),
            "en": MessageText(
                sms="[{site_name}] Your account is locked for {minutes} minutes after too many failed "
                "sign-ins. If this wasn't you, reset your password.",
                email_subject="{site_name}: your account is temporarily locked",
                email_body=(
                    "Hello,\n\nAfter too many failed sign-ins your account is locked; it unlocks by itself "
                    "in {minutes} minutes.\n\nIf those sign-ins weren't you, reset your password once it "
                    "unlocks:\n\n    {base_url}/password-reset\n\n{site_name}\n"
                ),
            ),
        },
    ),
    # --- contracts (contracts engineer) ---
    "otp_contract_access": _otp(
        "查看待签署的合同", "open a contract sent to you", "合同查看验证码", "your code to open a contract"
    ),
    "otp_contract_sign": _otp(
        "确认签署合同（签署意愿确认）",
        "confirm that you sign a contract",
        "签署意愿验证码",
        "your code to confirm signing",
    ),
    "contract_sign_request": _notice(
        params={"token"},
        zh="您有一份合同待签署，请打开链接查看并签署：{base_url}/sign/{token}",
        en="A contract is waiting for your signature. Open it here: {base_url}/sign/{token}",
        subject_zh="待签署合同",
        subject_en="a contract to sign",
    ),
    "contract_cc": _notice(
        params={"token"},
        zh="有一份合同抄送给您，签署完成后您将收到通知。",
        en="A contract was copied to you; you will hear when it is complete.",
        subject_zh="合同抄送通知",
        subject_en="a contract copied to you",
    ),
    "contract_completed": _notice(
        params={"contract"},
        zh="合同 {contract} 已由各方签署完成，请登录 {base_url}/contracts 下载已签署的文件。",
        en="Contract {contract} is signed by every party. Download it at {base_url}/contracts",
        subject_zh="合同已签署完成",
        subject_en="a contract is complete",
    ),
    "contract_declined": _notice(
        params={"contract"},
        zh="合同 {contract} 已被签署方拒签，流程已结束。",
        en="Contract {contract} was declined by a signer; the signing has ended.",
        subject_zh="合同已被拒签",
        subject_en="a contract was declined",
    ),
    "contract_revoked": _notice(
        params={"contract"},
        zh="合同 {contract} 已被发起方撤回，无需再签署。",
        en="Contract {contract} was revoked by its sender; no signature is needed.",
        subject_zh="合同已撤回",
        subject_en="a contract was revoked",
    ),
    "contract_seal_approval_request": _notice(
        params={"approval"},
        zh="经办人申请使用企业印章签署合同，请登录 {base_url}/seal-approvals/{approval} 审批。",
        en="An agent asks to use your organisation's seal on a contract. Decide at "
        "{base_url}/seal-approvals/{approval}",
        subject_zh="用印审批申请",
        subject_en="a seal-use request to decide",
    ),
    "contract_seal_rejected": _notice(
        params={"contract"},
        zh="合同 {contract} 的用印申请未获批准，请登录 {base_url}/contracts 查看原因，可修改后重新签署。",
        en="The seal use on contract {contract} was not approved. See why at {base_url}/contracts; "
        "you may sign again.",
        subject_zh="用印申请未获批准",
        subject_en="a seal-use request was rejected",
    ),
    "contract_reminder": _notice(
        params={"token"},
        zh="提醒：您有一份合同仍在等待您签署，请打开链接查看并签署：{base_url}/sign/{token}",
        en="Reminder: a contract is still waiting for your signature. Open it here: {base_url}/sign/{token}",
        subject_zh="合同待签署提醒",
        subject_en="reminder: a contract to sign",
    ),
    "contract_deadline_reminder": _notice(
        params={"token", "deadline"},
        zh="提醒：您待签署的合同将于 {deadline}（北京时间）截止签署，请尽快打开链接签署：{base_url}/sign/{token}",
        en="Reminder: a contract waiting for your signature closes at {deadline} (China time). "
        "Sign it here: {base_url}/sign/{token}",
        subject_zh="合同即将截止签署",
        subject_en="a contract closes soon",
    ),
    "contract_handover": _notice(
        params={"token"},
        zh="一份企业合同的签署已转交给您，请打开链接查看并代表企业签署：{base_url}/sign/{token}",
        en="The signing of a contract for your organisation was handed over to you. "
        "Open it here: {base_url}/sign/{token}",
        subject_zh="企业合同签署已转交给您",
        subject_en="a contract signing handed over to you",
    ),
    "org_invitation": _notice(
        params={"org_name", "role"},
        zh="{org_name} 邀请您以“{role}”身份加入企业。请登录 {base_url}/orgs 查看并接受邀请。",
        en="{org_name} invites you to join as {role}. Sign in at {base_url}/orgs to accept.",
        subject_zh="企业成员邀请",
        subject_en="an invitation to join an organisation",
    ),
    "org_legal_rep_confirm": _notice(
        params={"org_name", "token"},
        zh="{org_name} 申请企业实名认证，并指定您为法定代表人。请打开 {base_url}/orgs/confirm/{token} 确认或拒绝。",
        en="{org_name} names you as its legal representative in its verification. Confirm or refuse at "
        "{base_url}/orgs/confirm/{token}",
        subject_zh="请确认法定代表人身份",
        subject_en="please confirm you are the legal representative",
    ),
}


def template_names() -> list[str]:
    """Return the names of every template."""
    return sorted(TEMPLATES)


def normalise_locale(locale: str | None) -> str:
    """Return zh-CN or en for `locale` (zh, en-US, …), zh-CN when unsupported."""
    low = (locale or "").strip().lower().replace("_", "-")
    if low == "en" or low.startswith("en-"):
        return "en"
    return DEFAULT_LOCALE


def _check_params(name: str, template: Template, params: dict[str, Any]) -> dict[str, str]:
    given = set(params)
    missing, unknown = sorted(template.params - given), sorted(given - template.params)
    if missing or unknown:
        names = "、".join(missing + unknown)
        raise BadTemplateParams(
            f"模板 {name} 的参数有误：{names}",
            detail_en=f"Template {name} params do not fit: {names}",
            missing=missing,
            unknown=unknown,
        )
    clean: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BadTemplateParams(
                f"参数 {key} 须为文本或整数", detail_en=f"Param {key} must be text or an integer"
            )
        text = str(value)
        if not text or len(text) > _MAX_PARAM or _CONTROL.search(text):
            raise BadTemplateParams(
                f"参数 {key} 须为 1–{_MAX_PARAM} 个字符的单行文本",
                detail_en=f"Param {key} must be single-line text of 1-{_MAX_PARAM} characters",
            )
        clean[key] = text
    return clean


def render_message(
    *, template: str, channel: Channel, locale: str, params: dict[str, Any], site_name: str, base_url: str
) -> RenderedMessage:
    """Render `template` for `channel` in `locale`; raise UnknownTemplate or BadTemplateParams."""
    found = TEMPLATES.get(template)
    if found is None:
        raise UnknownTemplate(
            f"消息模板 {template[:40]} 不存在", detail_en=f"No message template {template[:40]}"
        )
    values = _check_params(template, found, params)
    values.update(site_name=site_name, base_url=base_url.rstrip("/"))
    lang = normalise_locale(locale)
    text = found.texts[lang]
    if channel == "sms":
        return RenderedMessage(template=template, locale=lang, subject=None, body=text.sms.format(**values))
    return RenderedMessage(
        template=template,
        locale=lang,
        subject=text.email_subject.format(**values),
        body=text.email_body.format(**values),
    )


def compose_email(
    *, message_id: str, sender: str, to: str, subject: str, body: str, date: datetime
) -> EmailMessage:
    """Build a plain-text UTF-8 e-mail per RFC 5322 (§3.6.4 Message-ID) with RFC 6532 addresses."""
    domain = sender.rpartition("@")[2] or "qianshu.local"
    message = EmailMessage(policy=SMTP)
    # Message-ID and Date first: a reader scanning the text after the recipient sees only the body.
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Date"] = format_datetime(date)
    message["From"] = sender
    local, _, to_domain = to.rpartition("@")
    message["To"] = Address(addr_spec=to) if local and to_domain else to
    message["Subject"] = subject
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5
    message.set_content(body, charset="utf-8")
    return message
