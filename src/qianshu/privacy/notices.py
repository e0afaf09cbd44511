"""Messages the privacy domain sends through notify: codes, request updates, alerts, incident notices.

The texts are privacy's; notify renders and delivers them. Until notify offers a way for a domain
to contribute templates, `ensure_templates` adds privacy's to notify's catalogue once (names start
with `privacy_`), and never replaces one notify already has. Params carry ids, counts and dates only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.logging import get_logger

log = get_logger("qianshu.privacy")

_SITE = "{site_name}"
_CENTRE = "{base_url}/privacy/centre"

# name -> (params, zh sms, zh subject, zh body, en sms, en subject, en body)
_TEXTS: dict[str, tuple[frozenset[str], str, str, str, str, str, str]] = {
    "privacy_otp": (
        frozenset({"code", "minutes"}),
        f"【{_SITE}】您正在确认个人信息请求，验证码 {{code}}，{{minutes}} 分钟内有效。请勿告诉他人。",
        f"{_SITE}：确认个人信息请求的验证码",
        "您好：\n\n您正在确认一项个人信息请求（查阅、更正、删除、注销等），验证码为：\n\n    {code}\n\n"
        "验证码 {minutes} 分钟内有效。平台工作人员不会向您索要验证码。如非本人操作，请忽略本邮件。\n\n"
        f"{_SITE}\n{{base_url}}\n",
        f"[{_SITE}] Your code to confirm a personal-information request is {{code}}. "
        "It expires in {minutes} minutes. Never share it.",
        f"{_SITE}: your code to confirm a personal-information request",
        "Hello,\n\nYour code to confirm a personal-information request is:\n\n    {code}\n\n"
        "It expires in {minutes} minutes. Our staff will never ask for it. If this wasn't you, ignore this "
        f"e-mail.\n\n{_SITE}\n{{base_url}}\n",
    ),
    "privacy_request_update": (
        frozenset({"request_id", "status"}),
        f"【{_SITE}】您的个人信息请求 {{request_id}} 有新进展（{{status}}），请登录查看：{_CENTRE}",
        f"{_SITE}：您的个人信息请求有新进展",
        "您好：\n\n您的个人信息请求 {request_id} 有新进展，当前状态：{status}。\n\n"
        f"请登录隐私中心查看详情：\n\n    {_CENTRE}\n\n{_SITE}\n",
        f"[{_SITE}] Your personal-information request {{request_id}} changed ({{status}}). See {_CENTRE}",
        f"{_SITE}: news on your personal-information request",
        "Hello,\n\nYour personal-information request {request_id} changed; it is now: {status}.\n\n"
        f"Sign in to your privacy centre for details:\n\n    {_CENTRE}\n\n{_SITE}\n",
    ),
    "privacy_requests_due": (
        frozenset({"overdue", "near_due"}),
        f"【{_SITE}】个人信息请求提醒：已逾期 {{overdue}} 件，即将到期 {{near_due}} 件。",
        f"{_SITE}：个人信息请求即将到期或已逾期",
        "您好：\n\n待处理的个人信息请求中，已逾期 {overdue} 件，即将到期 {near_due} 件。\n\n"
        f"请尽快处理：\n\n    {{base_url}}/operator/privacy/requests\n\n{_SITE}\n",
        f"[{_SITE}] Privacy requests: {{overdue}} overdue, {{near_due}} due soon.",
        f"{_SITE}: privacy requests due soon or overdue",
        "Hello,\n\nOf the open personal-information requests, {overdue} are overdue and {near_due} are due "
        f"soon.\n\nPlease handle them:\n\n    {{base_url}}/operator/privacy/requests\n\n{_SITE}\n",
    ),
    "privacy_party_consent": (
        frozenset({"request_id"}),
        f"【{_SITE}】有一项与您相关的合同数据删除请求（{{request_id}}）需要您的同意，请登录处理：{_CENTRE}",
        f"{_SITE}：需要您同意的数据删除请求",
        "您好：\n\n另一方请求删除与你们共同相关的合同数据（请求 {request_id}），"
        "只有所有相关方都同意后才会删除。\n\n"
        f"请登录隐私中心同意或拒绝：\n\n    {_CENTRE}\n\n{_SITE}\n",
        f"[{_SITE}] A request to delete contract data you share ({{request_id}}) needs your answer: "
        f"{_CENTRE}",
        f"{_SITE}: a deletion request needs your answer",
        "Hello,\n\nAnother party asked to delete contract data you share (request {request_id}). It is "
        f"deleted only if every party agrees.\n\nAgree or refuse here:\n\n    {_CENTRE}\n\n{_SITE}\n",
    ),
    "privacy_export_ready": (
        frozenset({"hours"}),
        f"【{_SITE}】您的个人信息副本已生成，{{hours}} 小时内可在隐私中心下载：{_CENTRE}",
        f"{_SITE}：您的个人信息副本已生成",
        "您好：\n\n您申请的个人信息副本（JSON 与 PDF）已生成，{hours} 小时内可登录隐私中心下载：\n\n"
        f"    {_CENTRE}\n\n{_SITE}\n",
        f"[{_SITE}] Your data copy is ready; download it within {{hours}} hours: {_CENTRE}",
        f"{_SITE}: your data copy is ready",
        "Hello,\n\nThe copy of your data you asked for (JSON and PDF) is ready. Download it within {hours} "
        f"hours from your privacy centre:\n\n    {_CENTRE}\n\n{_SITE}\n",
    ),
    "privacy_cancellation_scheduled": (
        frozenset({"date"}),
        f"【{_SITE}】您的账户将于 {{date}} 注销，在此之前可登录撤回。如非本人操作，请立即登录处理。",
        f"{_SITE}：账户注销申请已受理",
        "您好：\n\n我们已受理您的账户注销申请，账户将于 {date}（北京时间）起不可恢复地注销。"
        f"在此之前，您可以登录隐私中心撤回申请：\n\n    {_CENTRE}\n\n{_SITE}\n",
        f"[{_SITE}] Your account will be closed on {{date}}. Sign in to withdraw before then.",
        f"{_SITE}: your account closure is scheduled",
        "Hello,\n\nWe received your request to close your account. It will be closed for good on {date} "
        f"(Beijing time). Until then you can withdraw it here:\n\n    {_CENTRE}\n\n{_SITE}\n",
    ),
    "privacy_incident_notice": (
        frozenset({"incident_id", "title"}),
        f"【{_SITE}】个人信息安全事件告知：{{title}}。详情与建议请登录查看：{{base_url}}/privacy/incidents/{{incident_id}}",
        f"{_SITE}：个人信息安全事件告知",
        "您好：\n\n我们发生了一起可能涉及您个人信息的安全事件：{title}。\n\n"
        "事件的基本情况、可能的影响、我们已采取的措施以及您可以采取的防范措施，请登录查看：\n\n"
        f"    {{base_url}}/privacy/incidents/{{incident_id}}\n\n{_SITE}\n",
        f"[{_SITE}] Security incident notice: {{title}}. "
        "Details: {base_url}/privacy/incidents/{incident_id}",
        f"{_SITE}: personal-information security incident notice",
        "Hello,\n\nAn incident that may involve your personal information happened: {title}.\n\n"
        "What happened, its possible impact, what we did and what you can do:\n\n"
        f"    {{base_url}}/privacy/incidents/{{incident_id}}\n\n{_SITE}\n",
    ),
    "privacy_service_winddown": (
        frozenset({"date"}),
        f"【{_SITE}】本平台将于 {{date}} 停止运营，已停止收集个人信息。请及时下载您的合同与数据副本。",
        f"{_SITE}：停止运营通知",
        "您好：\n\n本平台将于 {date} 停止运营，即日起不再收集个人信息。"
        "停止运营后，除法律规定须保存的签署记录外，您的个人信息将被删除或匿名化处理。"
        f"请在此之前登录下载合同与数据副本：\n\n    {_CENTRE}\n\n{_SITE}\n",
        f"[{_SITE}] This service stops on {{date}} and no longer collects personal data. "
        "Download your copies.",
        f"{_SITE}: the service is closing",
        "Hello,\n\nThis service stops on {date} and collects no more personal information. Afterwards your "
        "data will be deleted or anonymised, except signing records the law requires us to keep. "
        f"Download your contracts and data before then:\n\n    {_CENTRE}\n\n{_SITE}\n",
    ),
}
TEMPLATE_NAMES = frozenset(_TEXTS)


def ensure_templates() -> None:
    """Add privacy's templates to notify's catalogue (once; existing names are left alone)."""
    from qianshu.notify import messages

    for name, (params, zs, zsub, zbody, es, esub, ebody) in _TEXTS.items():
        if name in messages.TEMPLATES:
            continue
        messages.TEMPLATES[name] = messages.Template(
            params=params,
            texts={
                "zh-CN": messages.MessageText(sms=zs, email_subject=zsub, email_body=zbody),
                "en": messages.MessageText(sms=es, email_subject=esub, email_body=ebody),
            },
        )


def notify_user(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    template: str,
    params: dict[str, Any],
    locale: str = "zh-CN",
    prefer: str = "sms",
) -> str | None:
    """Send `template` to the person by SMS (or e-mail); return the message id, None when unreachable."""
    from qianshu.accounts import service as accounts_service
    from qianshu.notify import service as notify_service

    ensure_templates()
    try:
        contact = accounts_service.get_contact(session=session, user_id=user_id)
    except Exception:  # an unknown or closed account simply cannot be reached
        return None
    channels = [("sms", contact.phone), ("email", contact.email)]
    if prefer == "email":
        channels.reverse()
    for channel, address in channels:
        if not address:
            continue
        if channel == "sms":
            return str(
                notify_service.send_sms(
                    session=session,
                    clock=clock,
                    subject_id=user_id,
                    phone=address,
                    template=template,
                    params=params,
                    locale=locale,
                )
            )
        return str(
            notify_service.send_email(
                session=session,
                clock=clock,
                subject_id=user_id,
                email=address,
                template=template,
                params=params,
                locale=locale,
            )
        )
    log.info("privacy_notice_unreachable", user_id=user_id, template=template)
    return None
