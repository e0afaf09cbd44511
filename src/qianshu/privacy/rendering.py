"""Turn a policy's Markdown (CommonMark) into safe HTML; show the privacy centre's values plainly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup

from qianshu.privacy.purposes import PURPOSES


@cache
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML off: any "<tag>" in the text is escaped, and markdown-it's link
    # validation drops javascript:, vbscript:, file: and data: URLs.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def policy_html(text: str) -> Markup:
    """Render policy Markdown as HTML, raw HTML escaped, headings one level down (the page owns h1)."""
    parser = _parser()
    tokens = parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + 1, 6)}"
    return Markup(parser.renderer.render(tokens, parser.options, {}))  # noqa: S704  # escaped: html=False


# --- the privacy centre's tables: readable column names and values ----------------------------

_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("编号", "ID"),
    "level": ("认证方式", "Level"),
    "status": ("状态", "Status"),
    "doc_type": ("证件类型", "Document"),
    "reason": ("原因", "Reason"),
    "created_at": ("创建时间", "Created"),
    "completed_at": ("完成时间", "Completed"),
    "contract_id": ("合同编号", "Contract"),
    "title": ("标题", "Title"),
    "role": ("身份", "Role"),
    "counterparties": ("其他签署方", "Other parties"),
    "finished_at": ("结束时间", "Finished"),
    "signed_at": ("签署时间", "Signed"),
    "certificate_id": ("证书编号", "Certificate"),
    "subject_name": ("证书主体", "Subject"),
    "serial": ("序列号", "Serial"),
    "not_before": ("生效时间", "Valid from"),
    "not_after": ("到期时间", "Valid until"),
    "revoked_at": ("吊销时间", "Revoked"),
    "policy_version": ("政策版本", "Policy version"),
    "accepted_at": ("同意时间", "Accepted"),
    "purpose": ("用途", "Purpose"),
    "action": ("操作", "Action"),
    "recorded_at": ("记录时间", "Recorded"),
    "recipient": ("接收方", "Recipient"),
    "recipient_kind": ("接收方类型", "Kind"),
    "fields": ("信息项", "Fields"),
    "legal_basis": ("法律依据", "Legal basis"),
    "shared_at": ("提供时间", "Shared"),
    "session_id": ("会话编号", "Session"),
    "device": ("设备", "Device"),
    "method": ("登录方式", "Method"),
    "last_seen_at": ("最近使用", "Last used"),
    "at": ("时间", "Time"),
    "ip": ("IP 地址", "IP address"),
    "user_agent": ("浏览器", "Browser"),
    "staff_role": ("工作人员角色", "Staff role"),
    "accessed_at": ("查看时间", "Viewed"),
    "note": ("说明", "Note"),
    "kind": ("类型", "Kind"),
    "kept_until": ("保存至", "Kept until"),
    "retain_until": ("保存至", "Kept until"),
}
_VALUES: dict[str, tuple[str, str]] = {
    "granted": ("已同意", "granted"),
    "not_granted": ("未同意", "not granted"),
    "grant": ("同意", "grant"),
    "withdraw": ("撤回", "withdraw"),
    "active": ("正常", "active"),
    "verified": ("已认证", "verified"),
    "revoked": ("已吊销", "revoked"),
    "expired": ("已过期", "expired"),
    "consent": ("个人同意", "consent"),
    "contract": ("履行合同所必需", "contract"),
    "legal_obligation": ("履行法定义务", "legal obligation"),
    "identity_provider": ("实名认证服务商", "identity provider"),
    "sms_provider": ("短信服务商", "SMS provider"),
    "email_provider": ("邮件服务商", "e-mail provider"),
    "ca": ("电子认证服务机构", "certificate authority"),
    "court": ("人民法院", "court"),
    "password": ("密码", "password"),
    "register": ("注册", "registration"),
    "reset": ("重设密码", "password reset"),
    "resident_id": ("居民身份证", "resident ID card"),
    "two_elements": ("二要素（姓名 + 身份证号）", "two elements (name + ID number)"),
    "three_elements": ("三要素", "three elements"),
    "four_elements": ("四要素", "four elements"),
    "face": ("人脸识别", "face check"),
}
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(\+00:00|Z)$")


def column_label(key: str, locale: str) -> str:
    """Return a readable heading for a record column of the privacy centre."""
    label = _COLUMNS.get(key)
    return key if label is None else label[1 if locale.startswith("en") else 0]


def readable_value(value: object, locale: str) -> str:
    """Show a centre value plainly: times as `YYYY-MM-DD HH:MM UTC`, known codes in words."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list | tuple):
        return "、".join(readable_value(v, locale) for v in value)
    text = str(value)
    match = _ISO_TIME.match(text)
    if match:
        return f"{match.group(1)} {match.group(2)} UTC"
    english = locale.startswith("en")
    purpose = PURPOSES.get(text)
    if purpose is not None:
        return purpose.label_en if english else purpose.label
    word = _VALUES.get(text)
    return text if word is None else word[1 if english else 0]
