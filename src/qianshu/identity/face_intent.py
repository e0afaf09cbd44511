"""A face check of a verified person, on its own: the signing-intent method "face" (签署意愿：人脸核验, C4).

The person takes a live photo; the configured `FaceMatcher` compares it with the portrait on record
for the name and ID number this account was verified with (decrypted from the vault for the call,
never returned or logged). Nothing about the person changes: the caller learns match or not.

Order (promises A4, P2, P9): the account must hold a verified resident-ID identity → separate
consent to process the face (个人信息保护法 第28-29条; given with this request or earlier) → the
image checked and re-encoded (no metadata) → a per-person hourly limit → the provider call → the
call written to the sharing register and the person's audit trail in their own transaction (data
left this platform even when the answer is a mismatch and the caller rolls back) → the answer. The
photo is not stored. A provider failure raises `ProviderUnavailable` (503): never read as a match.
Call it before the caller's transaction writes anything (SQLite allows one writer).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import runtime_of
from qianshu.identity import levels
from qianshu.identity.checks import failure_reason, match_face
from qianshu.identity.errors import ConsentRequired, FaceMismatch, IdentityRequired, ProviderUnavailable
from qianshu.identity.images import check_image
from qianshu.identity.models import Person
from qianshu.identity.person import open_column
from qianshu.identity.providers import CheckOutcome, FaceCheck, face_matcher
from qianshu.identity.store import record
from qianshu.privacy import service as privacy_service

__all__ = ["FACE_INTENT_PURPOSE_TEXT", "confirm_face"]

log = get_logger("qianshu.identity.face_intent")

FACE_INTENT_PURPOSE_TEXT = "签署意愿：人脸核验 / signing intent: face check"


def confirm_face(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    photo: bytes,
    consent: bool = False,
    object_id: str | None = None,
    context: RequestContext | None = None,
) -> str:
    """Compare a live photo with the person's ID record; return the check's reference on a match.

    `consent` records the separate consent to process the face now (when not given before);
    `object_id` names what the check is for (a contract recipient) in the audit trail. Raises
    IdentityRequired (no verified resident ID), ConsentRequired, InvalidImage/ImageTooLarge,
    TooManyRequests, ProviderUnavailable or FaceMismatch.
    """
    runtime = runtime_of(session)
    settings = runtime.settings
    person = session.get(Person, user_id)
    if person is None or person.doc_type != "resident_id":
        raise IdentityRequired(
            "人脸核验需要您已使用居民身份证完成实名认证，请改用其他方式确认签署意愿",
            detail_en="A face check needs a verification with a resident ID card; confirm another way",
        )
    has_consent = privacy_service.has_consent(session=session, user_id=user_id, purpose=levels.PURPOSE_FACE)
    if not consent and not has_consent:
        raise ConsentRequired([levels.PURPOSE_FACE])
    image = check_image(photo, max_bytes=settings.identity_max_image_bytes)
    if consent and not has_consent:  # recorded before the face is processed, kept whatever follows
        with runtime.transaction() as own:
            privacy_service.grant_consent(
                session=own, clock=clock, user_id=user_id, purpose=levels.PURPOSE_FACE, context=context
            )
    enforce(runtime, f"identity.face_intent:{user_id}", Limit(settings.signing_face_checks_per_hour, 3600))
    reference = new_id("fci")
    outcome = match_face(
        runtime,
        FaceCheck(
            reference=reference,
            name=open_column(session, person, "name"),
            id_number=open_column(session, person, "id_number"),
            image=image.data,
            content_type=image.content_type,
        ),
    )
    sent = outcome.sent if isinstance(outcome, ProviderUnavailable) else True
    matched = (
        isinstance(outcome, CheckOutcome) and failure_reason("face", outcome, settings.identity_face_threshold) is None
    )
    result = outcome.reason if isinstance(outcome, ProviderUnavailable) else ("match" if matched else "mismatch")
    with runtime.transaction() as own:
        if sent:
            privacy_service.record_sharing(
                session=own,
                clock=clock,
                subject_id=user_id,
                recipient=face_matcher(runtime).recipient,
                fields=list(levels.PROVIDER_FIELDS["face"]),
                purpose=FACE_INTENT_PURPOSE_TEXT,
                recipient_kind="identity_provider",
                legal_basis="consent",
                object_id=reference,
                actor=user_id,
                context=context,
            )
        record(
            own,
            clock,
            user_id=user_id,
            action="identity.face_checked",
            object_id=object_id or reference,
            data={"reference": reference, "result": result, "sent": sent, "purpose": "signing_intent"},
            context=context,
        )
    if isinstance(outcome, ProviderUnavailable):
        log.warning("identity_face_intent_unavailable", reference=reference, reason=outcome.reason)
        raise ProviderUnavailable(outcome.reason, sent=outcome.sent, retrying=False)
    log.info("identity_face_intent_checked", reference=reference, result=result)
    if not matched:
        raise FaceMismatch()
    return reference
