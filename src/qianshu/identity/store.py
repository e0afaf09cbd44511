"""Internals shared by the identity modules: sealing fields, audit events, reading rows, messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.evidence import service as evidence_service
from qianshu.identity import levels
from qianshu.identity.errors import VerificationNotFound
from qianshu.identity.models import DocumentImage, Verification
from qianshu.identity.schemas import VerificationRead
from qianshu.vault import service as vault_service

VERIFICATION_TABLE = "identity_verification"
PERSON_TABLE = "identity_person"
IMAGE_TABLE = "identity_document_image"

AWAITING, PENDING, IN_REVIEW = "awaiting_elements", "pending", "in_review"
VERIFIED, FAILED, CANCELLED = "verified", "failed", "cancelled"
OPEN = (AWAITING, PENDING, IN_REVIEW)

# Reason codes stored in `failure_reason`, with what the person reads (zh-CN, en).
REASONS: dict[str, tuple[str, str]] = {
    "no_record": (
        "未查询到与该身份证号码对应的登记信息。请核对号码；如仍无法通过，可上传证件申请人工审核。",
        "No record matches this ID number. Check the number; if it still fails, ask for a manual review.",
    ),
    "mismatch_name": (
        "姓名与身份证号码不一致。请按身份证上的姓名填写（少数民族姓名请保留间隔号“·”）。",
        "The name does not match the ID number. Write the name exactly as on the ID card (keep any ·).",
    ),
    "mismatch_phone": (
        "该手机号码不是登记在您本人名下。请使用以您本人身份证实名登记的手机号码。",
        "The mobile number is not registered to you. Use a number registered under your own ID.",
    ),
    "mismatch_bank_card": (
        "该银行卡与您的身份信息或预留手机号不一致。请使用本人名下、预留了该手机号的银行卡。",
        "The bank card does not match your identity or its registered mobile number. Use your own card.",
    ),
    "face_mismatch": (
        "人像比对未通过。请在光线充足处摘下帽子和眼镜，正对镜头重新拍摄。",
        "The face check did not match. Take the photo again facing the camera in good light.",
    ),
    "provider_unavailable": (
        "核验服务多次未能响应，本次认证已结束，您提交的信息已删除。请稍后重试，或上传证件申请人工审核。",
        "The verification provider did not answer after several tries; your data was deleted. "
        "Try again later or ask for a manual review.",
    ),
    "consent_withdrawn": (
        "您已撤回相关的单独同意，本次认证已取消，您提交的信息已删除。",
        "You withdrew the consent this check needs; it was cancelled and your data deleted.",
    ),
    "cancelled": (
        "您已取消本次认证，提交的信息已删除。",
        "You cancelled this verification; your data was deleted.",
    ),
    "superseded": (
        "您开始了新的认证，本次认证已取消。",
        "You started a new verification; this one was cancelled.",
    ),
    "rejected": (
        "人工审核未通过，请查看审核意见。",
        "The manual review was not approved; see the reviewer's note.",
    ),
    "data_erased": (
        "您的数据已按要求销毁，本次认证已结束。",
        "Your data was erased as requested; this check ended.",
    ),
}
STATUS_MESSAGES: dict[str, tuple[str, str]] = {
    AWAITING: ("请填写认证信息。", "Fill in the details to verify."),
    PENDING: (
        "核验服务暂未响应，已为您保留申请，将自动重试，无需重复提交。",
        "The provider has not answered yet; we keep your request and retry automatically.",
    ),
    IN_REVIEW: ("已提交人工审核，审核结果将在此显示。", "Sent for manual review; the result will show here."),
    VERIFIED: ("认证成功。", "Verified."),
}


@dataclass
class Elements:
    """The personal values of one verification, in clear, only while they are being used."""

    name: str
    id_number: str
    birth_date: date
    doc_type: str = "resident_id"
    phone: str | None = None
    bank_card: str | None = None
    face: bytes | None = field(default=None, repr=False)
    face_content_type: str | None = None


def seal(
    session: Session, *, user_id: str, table: str, column: str, row_id: str, value: str | bytes
) -> bytes:
    """Encrypt `value` under the person's data key, bound to table, column and row."""
    if isinstance(value, bytes):
        return vault_service.encrypt_bytes(
            session=session, subject_id=user_id, table=table, column=column, row_id=row_id, value=value
        )
    return vault_service.encrypt_field(
        session=session, subject_id=user_id, table=table, column=column, row_id=row_id, value=value
    )


def unseal(session: Session, *, user_id: str, table: str, column: str, row_id: str, blob: bytes) -> str:
    """Decrypt a text field (raises vault DataShredded after crypto-shredding)."""
    return vault_service.decrypt_field(
        session=session, subject_id=user_id, table=table, column=column, row_id=row_id, blob=blob
    )


def unseal_bytes(
    session: Session, *, user_id: str, table: str, column: str, row_id: str, blob: bytes
) -> bytes:
    """Decrypt a binary field."""
    return vault_service.decrypt_bytes(
        session=session, subject_id=user_id, table=table, column=column, row_id=row_id, blob=blob
    )


def store_elements(session: Session, row: Verification, elements: Elements) -> None:
    """Seal the elements into the verification row (kept only while a check is outstanding)."""

    def put(column: str, value: str | bytes) -> bytes:
        return seal(
            session, user_id=row.user_id, table=VERIFICATION_TABLE, column=column, row_id=row.id, value=value
        )

    row.name_enc = put("name", elements.name)
    row.id_number_enc = put("id_number", elements.id_number)
    row.birth_date_enc = put("birth_date", elements.birth_date.isoformat())
    row.phone_enc = put("phone", elements.phone) if elements.phone else None
    row.bank_card_enc = put("bank_card", elements.bank_card) if elements.bank_card else None
    row.face_enc = put("face", elements.face) if elements.face else None
    row.face_content_type = elements.face_content_type if elements.face else None


def load_elements(session: Session, row: Verification) -> Elements:
    """Open the sealed elements of a verification row (DataShredded when the key is gone)."""

    def get(column: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return unseal(
            session, user_id=row.user_id, table=VERIFICATION_TABLE, column=column, row_id=row.id, blob=blob
        )

    name, number, born = (
        get("name", row.name_enc),
        get("id_number", row.id_number_enc),
        get("birth_date", row.birth_date_enc),
    )
    if name is None or number is None or born is None:
        raise ValueError(f"verification {row.id} has no stored elements")
    face = None
    if row.face_enc is not None:
        face = unseal_bytes(
            session,
            user_id=row.user_id,
            table=VERIFICATION_TABLE,
            column="face",
            row_id=row.id,
            blob=row.face_enc,
        )
    return Elements(
        name=name,
        id_number=number,
        birth_date=date.fromisoformat(born),
        doc_type=row.doc_type,
        phone=get("phone", row.phone_enc),
        bank_card=get("bank_card", row.bank_card_enc),
        face=face,
        face_content_type=row.face_content_type,
    )


def wipe(session: Session, row: Verification, *, keep_images: bool = False) -> None:
    """Erase the sealed elements of a finished verification (and its document images)."""
    row.name_enc = row.id_number_enc = row.birth_date_enc = None
    row.phone_enc = row.bank_card_enc = row.face_enc = None
    row.face_content_type = None
    if not keep_images:
        session.execute(delete(DocumentImage).where(DocumentImage.verification_id == row.id))


def record(
    session: Session,
    clock: Clock,
    *,
    user_id: str,
    action: str,
    object_id: str | None = None,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
    context: RequestContext | None = None,
) -> None:
    """Append an audit event to the person's stream (no personal data in `data`)."""
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=actor or user_id,
        action=action,
        object_id=object_id,
        data=data or {},
        context=context,
    )


def lock_person(session: Session, user_id: str) -> None:
    """Serialise writers for one person until the transaction ends (their audit stream's lock)."""
    evidence_service.lock_stream(session=session, stream=f"user:{user_id}")


def own_row(session: Session, *, user_id: str, verification_id: str) -> Verification:
    """Return the person's verification, or raise VerificationNotFound (also for other people's ids)."""
    row = session.get(Verification, verification_id) if len(verification_id) <= 40 else None
    if row is None or row.user_id != user_id:
        raise VerificationNotFound()
    return row


def open_rows(session: Session, user_id: str) -> list[Verification]:
    """Return the person's unfinished verifications, oldest first."""
    return list(
        session.scalars(
            select(Verification)
            .where(Verification.user_id == user_id, Verification.status.in_(OPEN))
            .order_by(Verification.created_at)
        )
    )


def close(
    session: Session,
    clock: Clock,
    row: Verification,
    *,
    status: str,
    reason: str | None,
    actor: str | None = None,
    context: RequestContext | None = None,
    keep_images: bool = False,
) -> None:
    """End a verification (failed or cancelled): erase its data and record why."""
    now = clock.now()
    row.status, row.failure_reason = status, reason
    row.completed_at = row.updated_at = now
    row.next_attempt_at = None
    wipe(session, row, keep_images=keep_images)
    session.flush()
    record(
        session,
        clock,
        user_id=row.user_id,
        actor=actor,
        action=f"identity.verification_{status}",
        object_id=row.id,
        data={"level": row.level, "reason": reason or ""},
        context=context,
    )


def message_for(row: Verification, locale: str) -> str | None:
    """Return what the person should read about this verification's state."""
    english = locale.startswith("en")
    pair = REASONS.get(row.failure_reason or "") if row.failure_reason else STATUS_MESSAGES.get(row.status)
    if pair is None:
        return None
    return pair[1] if english else pair[0]


def to_read(session: Session, row: Verification, *, locale: str = "zh-CN") -> VerificationRead:
    """Return the owner's view of a verification row."""
    note = None
    if row.review_note_enc is not None:
        try:
            note = unseal(
                session,
                user_id=row.user_id,
                table=VERIFICATION_TABLE,
                column="review_note",
                row_id=row.id,
                blob=row.review_note_enc,
            )
        except vault_service.DataShredded:
            note = None
    return VerificationRead(
        id=row.id,
        level=row.level,
        level_label=levels.label(row.level, locale),
        status=row.status,
        doc_type=row.doc_type,
        attempts=row.attempts,
        created_at=row.created_at,
        submitted_at=row.submitted_at,
        completed_at=row.completed_at,
        next_attempt_at=row.next_attempt_at,
        failure_reason=row.failure_reason,
        message=message_for(row, locale),
        review_note=note,
    )
