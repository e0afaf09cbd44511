"""Manual review (promise A5): document images checked by staff when the automatic path fails.

A person sends the document type, name, number, birth date and 1-4 images (resident ID card,
passport, 港澳居民来往内地通行证, 台湾居民来往大陆通行证, 外国人永久居留身份证). Everything is sealed
in the vault. Operators with the identity-reviewer role see the queue masked; opening a review
shows the data in clear only after they give a reason, and each opening is written to the
staff-access log the person can read (promise P10). The decision needs an opening first, carries
a reason shown to the person, and erases the images either way.
"""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Forbidden, InvalidInput
from qianshu.core.ids import new_id
from qianshu.core.runtime import runtime_of
from qianshu.identity import gate, levels
from qianshu.identity import guardian as guardians
from qianshu.identity import person as person_records
from qianshu.identity.checks import rate_limit, reconcile_consents
from qianshu.identity.errors import (
    InvalidBirthDate,
    InvalidImage,
    ReviewNotRevealed,
    VerificationNotFound,
    VerificationState,
)
from qianshu.identity.images import CheckedImage, check_image
from qianshu.identity.models import DocumentImage, Verification
from qianshu.identity.schemas import RevealedImage, ReviewRevealed, ReviewSummary, VerificationRead
from qianshu.identity.store import (
    AWAITING,
    CANCELLED,
    FAILED,
    IMAGE_TABLE,
    IN_REVIEW,
    VERIFICATION_TABLE,
    Elements,
    close,
    load_elements,
    lock_person,
    open_rows,
    record,
    seal,
    store_elements,
    to_read,
    unseal_bytes,
)
from qianshu.identity.validators import (
    age_on,
    china_today,
    parse_birth_date,
    parse_document_number,
    parse_name,
)
from qianshu.privacy import service as privacy_service
from qianshu.privacy.winddown import check_collection_allowed
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_id_number, mask_name

MAX_IMAGES = 4
REVEALED_FIELDS = ["birth_date", "id_document_images", "id_number", "real_name"]


def _checked_images(images: list[bytes], max_bytes: int) -> list[CheckedImage]:
    if not images:
        raise InvalidImage(
            "请上传证件照片（至少一张，含姓名和号码的一面）",
            detail_en="Upload at least one image of the document (the side with name and number)",
            reason="missing",
        )
    if len(images) > MAX_IMAGES:
        raise InvalidImage(
            f"最多上传 {MAX_IMAGES} 张证件照片",
            detail_en=f"Upload at most {MAX_IMAGES} images",
            reason="count",
        )
    return [check_image(data, max_bytes=max_bytes) for data in images]


def submit_review(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    doc_type: str,
    name: str,
    document_number: str,
    birth_date: str | None,
    images: list[bytes],
    grant: list[str] | tuple[str, ...] = (),
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> VerificationRead:
    """Send document images for manual review (they are encrypted; staff see them masked by default)."""
    runtime = runtime_of(session)
    if doc_type not in levels.DOCUMENT_TYPES:
        raise InvalidInput("请选择证件类型", detail_en="Choose the document type", reason="doc_type")
    today = china_today(clock.now())
    clean_name = parse_name(name)
    number, encoded_birth = parse_document_number(doc_type, document_number, today=today)
    if encoded_birth is not None:
        born = encoded_birth
        if birth_date and parse_birth_date(birth_date, today=today) != born:
            raise InvalidBirthDate(
                "出生日期与证件号码中的不一致，请核对",
                detail_en="The birth date differs from the one in the number",
                reason="mismatch",
            )
    else:
        born = parse_birth_date(birth_date, today=today)
    checked = _checked_images(images, runtime.settings.identity_max_image_bytes)
    check_collection_allowed(session=session)
    rate_limit(runtime, user_id)  # before this transaction writes
    for purpose in grant:
        if purpose in levels.purposes_for("manual"):
            privacy_service.grant_consent(
                session=session, clock=clock, user_id=user_id, purpose=purpose, context=context
            )
    gate.require_consents(session, user_id=user_id, level="manual")
    bidx = person_records.number_index(session, doc_type=doc_type, number=number)
    decision = gate.decide_age(settings=runtime.settings, age=age_on(born, today))
    guardian_id = None
    if decision.outcome == "guardian":
        guardian_id = guardians.confirmed_consent_for(session, minor_user_id=user_id, child_bidx=bidx)
    gate.refuse_or_ask_guardian(settings=runtime.settings, decision=decision, guardian_consent_id=guardian_id)
    person_records.check_unique(session, user_id=user_id, bidx=bidx)
    lock_person(session, user_id)
    for old in open_rows(session, user_id):
        if old.status != AWAITING:
            raise VerificationState(
                "您有一项认证正在处理中，请等待结果后再申请人工审核。",
                detail_en="A verification of yours is still being processed; wait for its result.",
                verification_id=old.id,
            )
        close(session, clock, old, status=CANCELLED, reason="superseded", context=context)
    now = clock.now()
    row = Verification(
        id=new_id("idv"),
        user_id=user_id,
        level="manual",
        status=IN_REVIEW,
        doc_type=doc_type,
        id_number_bidx=bidx,
        guardian_consent_id=guardian_id,
        attempts=0,
        created_at=now,
        updated_at=now,
        submitted_at=now,
    )
    session.add(row)
    session.flush()
    store_elements(
        session, row, Elements(name=clean_name, id_number=number, birth_date=born, doc_type=doc_type)
    )
    for position, image in enumerate(checked, start=1):
        image_id = new_id("idi")
        session.add(
            DocumentImage(
                id=image_id,
                verification_id=row.id,
                user_id=user_id,
                position=position,
                content_type=image.content_type,
                size_bytes=len(image.data),
                data_enc=seal(
                    session,
                    user_id=user_id,
                    table=IMAGE_TABLE,
                    column="data",
                    row_id=image_id,
                    value=image.data,
                ),
                created_at=now,
            )
        )
    session.flush()
    record(
        session,
        clock,
        user_id=user_id,
        action="identity.review_submitted",
        object_id=row.id,
        data={"doc_type": doc_type, "images": len(checked), "guardian_consent": guardian_id or ""},
        context=context,
    )
    return to_read(session, row, locale=locale)


# --- the operators' side --------------------------------------------------------------------


def _review_row(session: Session, review_id: str) -> Verification:
    row = session.get(Verification, review_id) if len(review_id) <= 40 else None
    if row is None or row.level != "manual":
        raise VerificationNotFound()
    return row


def _images(session: Session, row: Verification) -> list[DocumentImage]:
    return list(
        session.scalars(
            select(DocumentImage)
            .where(DocumentImage.verification_id == row.id)
            .order_by(DocumentImage.position)
        )
    )


def _summary(session: Session, row: Verification, *, locale: str = "zh-CN") -> ReviewSummary:
    name_masked = number_masked = "—"
    if row.name_enc is not None and row.id_number_enc is not None:
        try:
            elements = load_elements(session, row)
            name_masked, number_masked = mask_name(elements.name), mask_id_number(elements.id_number)
        except vault_service.DataShredded:
            pass
    return ReviewSummary(
        id=row.id,
        user_id=row.user_id,
        status=row.status,
        doc_type=row.doc_type,
        doc_label=levels.document_label(row.doc_type, locale),
        name_masked=name_masked,
        number_masked=number_masked,
        images=len(_images(session, row)),
        submitted_at=row.submitted_at,
        completed_at=row.completed_at,
        reviewer_id=row.reviewer_id,
    )


def list_reviews(
    *, session: Session, clock: Clock, status: str = IN_REVIEW, limit: int = 100, locale: str = "zh-CN"
) -> list[ReviewSummary]:
    """Return manual reviews in `status` (oldest first for the open queue), masked."""
    query = select(Verification).where(Verification.level == "manual", Verification.status == status)
    if status == IN_REVIEW:
        query = query.order_by(Verification.submitted_at)
    else:
        query = query.order_by(Verification.completed_at.desc())
    rows = list(session.scalars(query.limit(max(1, min(limit, 500)))))
    for user_id in {r.user_id for r in rows if r.status == IN_REVIEW}:
        reconcile_consents(session=session, clock=clock, user_id=user_id)
    return [_summary(session, r, locale=locale) for r in rows if r.status == status]


def get_review(*, session: Session, review_id: str, locale: str = "zh-CN") -> ReviewSummary:
    """Return one review, masked."""
    return _summary(session, _review_row(session, review_id), locale=locale)


def _open_for_staff(session: Session, clock: Clock, *, staff_id: str, review_id: str) -> Verification:
    row = _review_row(session, review_id)
    if row.user_id == staff_id:
        raise Forbidden("不能审核本人的认证申请", detail_en="You cannot review your own application")
    if row.status == IN_REVIEW:
        reconcile_consents(session=session, clock=clock, user_id=row.user_id)
    if row.status != IN_REVIEW:
        raise VerificationState("该申请已处理或已撤回", detail_en="This application was decided or withdrawn")
    return row


def reveal_review(
    *,
    session: Session,
    clock: Clock,
    staff_id: str,
    review_id: str,
    reason: str,
    note: str = "",
    staff_role: str | None = None,
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> ReviewRevealed:
    """Open a review's data and images in clear for `staff_id`, logging the access and its reason."""
    row = _open_for_staff(session, clock, staff_id=staff_id, review_id=review_id)
    elements = load_elements(session, row)
    image_rows = _images(session, row)
    revealed = [
        RevealedImage(
            position=img.position,
            content_type=img.content_type,
            data_base64=base64.b64encode(
                unseal_bytes(
                    session,
                    user_id=row.user_id,
                    table=IMAGE_TABLE,
                    column="data",
                    row_id=img.id,
                    blob=img.data_enc,
                )
            ).decode("ascii"),
        )
        for img in image_rows
    ]
    access_id = privacy_service.record_staff_access(
        session=session,
        clock=clock,
        staff_id=staff_id,
        subject_id=row.user_id,
        fields=REVEALED_FIELDS,
        reason=reason,
        staff_role=staff_role,
        note=note or None,
        object_id=row.id,
        context=context,
    )
    record(
        session,
        clock,
        user_id=row.user_id,
        actor=staff_id,
        action="identity.review_revealed",
        object_id=row.id,
        data={"access_id": access_id},
        context=context,
    )
    summary = _summary(session, row, locale=locale)
    return ReviewRevealed(
        **summary.model_dump(),
        access_id=access_id,
        name=elements.name,
        document_number=elements.id_number,
        birth_date=elements.birth_date,
        age=age_on(elements.birth_date, china_today(clock.now())),
        image_data=revealed,
    )


def _revealed_by(session: Session, *, staff_id: str, row: Verification) -> bool:
    accesses = privacy_service.list_staff_access(session=session, subject_id=row.user_id, staff_id=staff_id)
    return any(a.object_id == row.id for a in accesses)


def decide_review(
    *,
    session: Session,
    clock: Clock,
    staff_id: str,
    review_id: str,
    approve: bool,
    reason: str,
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> ReviewSummary:
    """Approve (the person is verified, level manual) or reject a review; the reason goes to the person."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("请填写审核意见", detail_en="Give the reason for the decision", reason="reason")
    first = _review_row(session, review_id)
    lock_person(session, first.user_id)
    session.refresh(first)
    row = _open_for_staff(session, clock, staff_id=staff_id, review_id=review_id)
    if not _revealed_by(session, staff_id=staff_id, row=row):
        raise ReviewNotRevealed(
            "请先查看证件材料（需填写查看理由），再作出审核决定。",
            detail_en="Open the documents first (with a reason), then decide.",
        )
    row.reviewer_id = staff_id
    row.review_note_enc = seal(
        session,
        user_id=row.user_id,
        table=VERIFICATION_TABLE,
        column="review_note",
        row_id=row.id,
        value=reason[:400],
    )
    if approve:
        elements = load_elements(session, row)
        assert row.id_number_bidx is not None
        person_records.check_unique(session, user_id=row.user_id, bidx=row.id_number_bidx)
        person_records.complete(
            session, clock, row, elements, bidx=row.id_number_bidx, actor=staff_id, context=context
        )
    else:
        close(session, clock, row, status=FAILED, reason="rejected", actor=staff_id, context=context)
    return _summary(session, row, locale=locale)
