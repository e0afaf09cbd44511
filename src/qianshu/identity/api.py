"""JSON API of real-name verification (and the mounted sandbox provider, identity.sandbox)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from qianshu.core.auth import Acting, ActingUser, CurrentUser
from qianshu.core.deps import ClockDep, ContextDep, DbSession, SettingsDep
from qianshu.core.errors import InvalidInput
from qianshu.identity import sandbox
from qianshu.identity import service as identity_service
from qianshu.identity.errors import ImageTooLarge
from qianshu.identity.levels import SENSITIVE_PURPOSES
from qianshu.identity.schemas import (
    DecisionIn,
    ElementsSubmit,
    GuardianConfirm,
    GuardianRequestCreated,
    GuardianRequestRead,
    IdentityOverview,
    RevealIn,
    ReviewRevealed,
    ReviewSummary,
    VerificationRead,
    VerificationStart,
)
from qianshu.privacy.centre_schemas import SharingRead, StaffAccessRead
from qianshu.privacy.staff import Staff, staff_dependency

router = APIRouter(tags=["identity"])
router.include_router(sandbox.router)

Reviewer = Annotated[Staff, Depends(staff_dependency("pi.reveal.identity"))]
_CHUNK = 64 * 1024


def locale_of(request: Request) -> str:
    """Return the request's locale (zh-CN or en)."""
    return str(getattr(request.state, "locale", "zh-CN"))


async def read_upload(upload: UploadFile | None, max_bytes: int) -> bytes | None:
    """Read an uploaded file, refusing it with 413 as soon as it passes `max_bytes`."""
    if upload is None:
        return None
    data = bytearray()
    while chunk := await upload.read(_CHUNK):
        data.extend(chunk)
        if len(data) > max_bytes:
            mb = max_bytes / (1024 * 1024)
            raise ImageTooLarge(
                f"图片超过 {mb:g} MB 的上限，请压缩或重新拍摄后再上传",
                detail_en=f"The image is over the {mb:g} MB limit; compress it or take it again",
            )
    return bytes(data) if data else None


def _mine(act: Acting, **named: Any) -> dict[str, Any]:
    """Return the keyword arguments of an action on the signed-in person's own verification."""
    return act.args(user_id=act.user.user_id, locale=act.locale, **named)


def _purposes(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in SENSITIVE_PURPOSES]
    if unknown:
        raise InvalidInput("未知的同意用途", detail_en="Unknown consent purpose", reason="purpose")
    return values


# --- the person's own verification ----------------------------------------------------------


@router.get("/api/v1/identity", response_model=IdentityOverview)
def overview(request: Request, user: CurrentUser, session: DbSession, clock: ClockDep) -> IdentityOverview:
    """Return the signed-in person's level, open verification, the levels offered and history."""
    return identity_service.get_overview(session=session, clock=clock, user_id=user.user_id, locale=locale_of(request))


@router.post("/api/v1/identity/verifications", response_model=VerificationRead, status_code=201)
def start(body: VerificationStart, act: ActingUser) -> VerificationRead:
    """Start a verification at a level (403 consent-required unless its sensitive purposes are granted)."""
    return identity_service.start_verification(**_mine(act, level=body.level, grant=_purposes(body.consents)))


@router.get("/api/v1/identity/verifications", response_model=list[VerificationRead])
def list_mine(request: Request, user: CurrentUser, session: DbSession) -> list[VerificationRead]:
    """List the signed-in person's verifications, newest first."""
    return identity_service.list_verifications(session=session, user_id=user.user_id, locale=locale_of(request))


@router.get("/api/v1/identity/verifications/{verification_id}", response_model=VerificationRead)
def status(
    verification_id: str, request: Request, user: CurrentUser, session: DbSession, clock: ClockDep
) -> VerificationRead:
    """Return one verification's status (pending ones are retried automatically)."""
    return identity_service.get_verification(
        session=session,
        clock=clock,
        user_id=user.user_id,
        verification_id=verification_id,
        locale=locale_of(request),
    )


@router.post("/api/v1/identity/verifications/{verification_id}/elements", response_model=VerificationRead)
def submit_elements(verification_id: str, body: ElementsSubmit, act: ActingUser) -> VerificationRead:
    """Submit name, ID number (and phone, bank card) of a two-, three- or four-element verification."""
    elements = {"name": body.name, "id_number": body.id_number, "phone": body.phone, "bank_card": body.bank_card}
    return identity_service.submit_elements(**_mine(act, verification_id=verification_id, **elements))


@router.post("/api/v1/identity/verifications/{verification_id}/face", response_model=VerificationRead)
async def submit_face(
    verification_id: str,
    act: ActingUser,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=80)],
    id_number: Annotated[str, Form(max_length=40)],
    photo: Annotated[UploadFile | None, File()] = None,
) -> VerificationRead:
    """Submit a face verification: name, ID number and a photo (multipart, JPEG or PNG)."""
    data = await read_upload(photo, settings.identity_max_image_bytes)
    named = _mine(act, verification_id=verification_id, name=name, id_number=id_number, photo=data)
    return await run_in_threadpool(lambda: identity_service.submit_face(**named))


@router.post("/api/v1/identity/verifications/{verification_id}/cancel", response_model=VerificationRead)
def cancel(verification_id: str, act: ActingUser) -> VerificationRead:
    """Cancel an unfinished verification; what it holds is erased."""
    return identity_service.cancel_verification(**_mine(act, verification_id=verification_id))


@router.post("/api/v1/identity/reviews", response_model=VerificationRead, status_code=201)
async def submit_review(
    act: ActingUser,
    settings: SettingsDep,
    document_type: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=80)],
    document_number: Annotated[str, Form(max_length=40)],
    birth_date: Annotated[str | None, Form(max_length=10)] = None,
    consents: Annotated[list[str] | None, Form()] = None,
    images: Annotated[list[UploadFile] | None, File()] = None,
) -> VerificationRead:
    """Ask for a manual review with document images (multipart; 1-4 JPEG or PNG files named `images`)."""
    limit = settings.identity_max_image_bytes
    blobs = [b for b in [await read_upload(f, limit) for f in images or []] if b is not None]
    grant = _purposes(consents or [])
    named = _mine(act, doc_type=document_type, name=name, document_number=document_number, birth_date=birth_date)
    return await run_in_threadpool(lambda: identity_service.submit_review(**named, images=blobs, grant=grant))


@router.post("/api/v1/identity/consents/{purpose}/withdraw", response_model=IdentityOverview)
def withdraw(purpose: str, act: ActingUser) -> IdentityOverview:
    """Withdraw consent to a sensitive purpose; verifications relying on it stop and are erased."""
    identity_service.withdraw_consent(**act.args(user_id=act.user.user_id, purpose=_purposes([purpose])[0]))
    return identity_service.get_overview(
        session=act.session, clock=act.clock, user_id=act.user.user_id, locale=act.locale
    )


@router.get("/api/v1/identity/sharing", response_model=list[SharingRead])
def sharing(user: CurrentUser, session: DbSession) -> list[SharingRead]:
    """Return every transfer of the person's data to a third party (P9)."""
    return identity_service.list_sharing(session=session, subject_id=user.user_id)


@router.get("/api/v1/identity/staff-access", response_model=list[StaffAccessRead])
def staff_access(request: Request, user: CurrentUser, session: DbSession) -> list[StaffAccessRead]:
    """Return every time staff opened the person's data, and why (P10)."""
    return identity_service.list_staff_access(session=session, subject_id=user.user_id, locale=locale_of(request))


# --- guardians ------------------------------------------------------------------------------


@router.post("/api/v1/identity/guardian-requests", response_model=GuardianRequestCreated, status_code=201)
def guardian_request(act: ActingUser) -> GuardianRequestCreated:
    """Create a guardian code (shown once) for a minor to hand to their parent or guardian."""
    return identity_service.request_guardian_consent(**act.args(user_id=act.user.user_id))


@router.get("/api/v1/identity/guardian-requests", response_model=list[GuardianRequestRead])
def guardian_requests(user: CurrentUser, session: DbSession) -> list[GuardianRequestRead]:
    """List the person's guardian requests (as a minor) and consents given (as a guardian)."""
    return identity_service.list_guardian_requests(session=session, user_id=user.user_id)


@router.post("/api/v1/identity/guardian-requests/confirm", response_model=GuardianRequestRead)
def guardian_confirm(body: GuardianConfirm, act: ActingUser) -> GuardianRequestRead:
    """Confirm, as a verified adult guardian, a minor's request, naming the child's ID number."""
    named = {"code": body.code, "child_id_number": body.child_id_number, "relationship": body.relationship}
    return identity_service.confirm_guardian_consent(**act.args(guardian_user_id=act.user.user_id, **named))


@router.post("/api/v1/identity/guardian-requests/{request_id}/revoke", response_model=GuardianRequestRead)
def guardian_revoke(request_id: str, act: ActingUser) -> GuardianRequestRead:
    """Revoke a consent given as a guardian."""
    return identity_service.revoke_guardian_consent(
        **act.args(guardian_user_id=act.user.user_id, request_id=request_id)
    )


# --- operators: the manual review queue -----------------------------------------------------


@router.get("/api/v1/operator/identity/reviews", response_model=list[ReviewSummary])
def review_queue(
    request: Request, staff: Reviewer, session: DbSession, clock: ClockDep, status: str = "in_review"
) -> list[ReviewSummary]:
    """List manual reviews (default: waiting), masked."""
    if status not in ("in_review", "verified", "failed", "cancelled"):
        raise InvalidInput("未知的审核状态", detail_en="Unknown review status", reason="status")
    return identity_service.list_reviews(session=session, clock=clock, status=status, locale=locale_of(request))


@router.get("/api/v1/operator/identity/reviews/{review_id}", response_model=ReviewSummary)
def review(review_id: str, request: Request, staff: Reviewer, session: DbSession) -> ReviewSummary:
    """Return one manual review, masked."""
    return identity_service.get_review(session=session, review_id=review_id, locale=locale_of(request))


def _reviewing(staff: Reviewer, session: DbSession, clock: ClockDep, context: ContextDep) -> tuple[Staff, Acting]:
    return staff, Acting(user=staff.principal, session=session, clock=clock, context=context)


Reviewing = Annotated[tuple[Staff, Acting], Depends(_reviewing)]


@router.post("/api/v1/operator/identity/reviews/{review_id}/reveal", response_model=ReviewRevealed)
def reveal(review_id: str, body: RevealIn, reviewing: Reviewing) -> ReviewRevealed:
    """Open a review's data and images in clear; the access and its reason are logged for the person."""
    staff, act = reviewing
    return identity_service.reveal_review(
        **act.args(staff_id=staff.user_id, staff_role=staff.role, review_id=review_id, locale=act.locale),
        reason=body.reason,
        note=body.note,
    )


def _decide(approve: bool, review_id: str, body: DecisionIn, reviewing: tuple[Staff, Acting]) -> ReviewSummary:
    staff, act = reviewing
    return identity_service.decide_review(
        **act.args(staff_id=staff.user_id, review_id=review_id, locale=act.locale),
        approve=approve,
        reason=body.reason,
    )


@router.post("/api/v1/operator/identity/reviews/{review_id}/approve", response_model=ReviewSummary)
def approve(review_id: str, body: DecisionIn, reviewing: Reviewing) -> ReviewSummary:
    """Approve a review after opening it: the person is verified (level manual)."""
    return _decide(True, review_id, body, reviewing)


@router.post("/api/v1/operator/identity/reviews/{review_id}/reject", response_model=ReviewSummary)
def reject(review_id: str, body: DecisionIn, reviewing: Reviewing) -> ReviewSummary:
    """Reject a review after opening it; the reason is shown to the person and the images erased."""
    return _decide(False, review_id, body, reviewing)
