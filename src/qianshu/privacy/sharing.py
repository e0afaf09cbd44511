"""The sharing register (P9): every outbound transfer of a person's data, shown to that person.

Domains that hand personal data to a third party — the CA, a real-name verification provider, an
SMS gateway, an arbitration body — call `record_sharing` in the same transaction as the transfer,
naming the recipient, the fields (by name, never their values), the purpose and the legal basis
(个人信息保护法 第13条, 第23条: the recipient's name, purpose, processing method and categories).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_id
from qianshu.evidence import service as evidence_service
from qianshu.privacy.centre_models import SharingRecord
from qianshu.privacy.centre_schemas import SharingRead
from qianshu.privacy.staff import subject_stream

RECIPIENT_KINDS: dict[str, tuple[str, str]] = {
    "ca": ("电子认证服务机构", "Certification authority"),
    "identity_provider": ("实名认证服务提供者", "Identity verification provider"),
    "bank": ("银行或支付机构", "Bank or payment institution"),
    "sms_provider": ("短信服务提供者", "SMS provider"),
    "email_provider": ("邮件服务提供者", "E-mail provider"),
    "arbitration": ("仲裁机构", "Arbitration body"),
    "court": ("人民法院", "Court"),
    "appraisal": ("司法鉴定机构", "Judicial appraisal body"),
    "regulator": ("监管部门", "Regulator"),
    "counterparty": ("合同相对方", "Contract counterparty"),
    "other": ("其他", "Other"),
}
# 个人信息保护法 第13条: the lawful bases for processing.
LEGAL_BASES: dict[str, tuple[str, str]] = {
    "consent": ("取得您的同意", "Your consent"),
    "contract": ("订立、履行您作为一方的合同所必需", "Needed for a contract you are party to"),
    "legal_obligation": ("履行法定职责或法定义务所必需", "Needed to meet a legal duty"),
    "emergency": ("应对突发公共卫生事件或紧急情况所必需", "Needed in an emergency"),
    "other_law": ("法律、行政法规规定的其他情形", "Other cases the law provides for"),
}
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


def record_sharing(
    *,
    session: Session,
    clock: Clock,
    subject_id: str,
    recipient: str,
    fields: list[str],
    purpose: str,
    recipient_kind: str = "other",
    legal_basis: str = "contract",
    object_id: str | None = None,
    actor: str = "system",
    context: RequestContext | None = None,
) -> str:
    """Register that `fields` of `subject_id` went to `recipient` for `purpose`; return the record id."""
    recipient, purpose = recipient.strip(), purpose.strip()
    if not recipient or len(recipient) > 120:
        raise InvalidInput(
            "接收方名称须为 1 至 120 个字符", detail_en="The recipient needs 1 to 120 characters"
        )
    if not purpose or len(purpose) > 200:
        raise InvalidInput("目的须为 1 至 200 个字符", detail_en="The purpose needs 1 to 200 characters")
    if recipient_kind not in RECIPIENT_KINDS:
        raise InvalidInput("接收方类型无效", detail_en=f"Unknown recipient kind {recipient_kind[:32]}")
    if legal_basis not in LEGAL_BASES:
        raise InvalidInput("处理依据无效", detail_en=f"Unknown legal basis {legal_basis[:32]}")
    if not fields or len(fields) > 50 or not all(_FIELD_RE.fullmatch(f) for f in fields):
        raise InvalidInput(
            "字段须为字段名（如 real_name、id_number）",
            detail_en="Fields must be field names such as id_number",
        )
    record_id = new_id("shr")
    session.add(
        SharingRecord(
            id=record_id,
            subject_id=subject_id,
            recipient=recipient,
            recipient_kind=recipient_kind,
            fields=sorted(set(fields)),
            purpose=purpose,
            legal_basis=legal_basis,
            object_id=object_id,
            actor=actor,
            shared_at=clock.now(),
        )
    )
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=subject_stream(subject_id),
        actor=actor,
        action="privacy.data_shared",
        object_id=record_id,
        data={"recipient_kind": recipient_kind, "fields": sorted(set(fields)), "legal_basis": legal_basis},
        context=context,
    )
    return record_id


def list_sharing(*, session: Session, subject_id: str) -> list[SharingRead]:
    """Return every transfer of `subject_id`'s data, newest first."""
    rows = session.scalars(
        select(SharingRecord)
        .where(SharingRecord.subject_id == subject_id)
        .order_by(SharingRecord.shared_at.desc())
    )
    return [SharingRead.model_validate(r) for r in rows]
