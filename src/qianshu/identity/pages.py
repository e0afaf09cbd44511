"""Pages of real-name verification: /identity for people, /operator/identity for identity reviewers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from qianshu.core.auth import PageUser, Principal
from qianshu.core.clock import Clock
from qianshu.core.deps import ClockDep, ContextDep, DbSession, SettingsDep
from qianshu.core.errors import QianshuError
from qianshu.identity import levels
from qianshu.identity import service as identity_service
from qianshu.identity.api import locale_of, read_upload
from qianshu.identity.schemas import GuardianRequestCreated, VerificationRead
from qianshu.pki import service as pki_service
from qianshu.privacy import service as privacy_service
from qianshu.privacy.purposes import PURPOSES
from qianshu.privacy.staff import REASONS, Staff, staff_dependency
from qianshu.web.acting import PageActing, PageActingUser
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

PageReviewer = Annotated[Staff, Depends(staff_dependency("pi.reveal.identity", page=True))]
NO_STORE = {"Cache-Control": "no-store"}
_REVIEW_STATUSES = ("in_review", "verified", "failed", "cancelled")


def _issuer_name(der: bytes) -> str:
    """Return the issuing CA's common name (the certificate's issuer), for the person's page."""
    issuer = x509.load_der_x509_certificate(der).issuer
    names = issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else issuer.rfc4514_string()


def _message(request: Request, exc: QianshuError) -> str:
    return exc.detail_en if locale_of(request).startswith("en") else exc.detail


def _identity_page(
    request: Request,
    session: Session,
    clock: Clock,
    user: Principal,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
    guardian_code: GuardianRequestCreated | None = None,
) -> HTMLResponse:
    locale = locale_of(request)
    english = locale.startswith("en")
    overview = identity_service.get_overview(session=session, clock=clock, user_id=user.user_id, locale=locale)
    granted = {
        key: privacy_service.has_consent(session=session, user_id=user.user_id, purpose=key)
        for key in levels.SENSITIVE_PURPOSES
    }
    purposes = {
        key: {
            "label": PURPOSES[key].label_en if english else PURPOSES[key].label,
            "description": PURPOSES[key].description_en if english else PURPOSES[key].description,
            "granted": granted[key],
        }
        for key in levels.SENSITIVE_PURPOSES
    }
    notices = [Notice("error", error)] if error else []
    certificate = (
        pki_service.get_certificate(session=session, cert_id=overview.certificate_id)
        if overview.certificate_id
        else None
    )
    return render(
        request,
        "identity/index.html",
        {
            "overview": overview,
            "certificate": certificate,
            "issuer": _issuer_name(certificate.der) if certificate else None,
            "purposes": purposes,
            "documents": [(d, levels.document_label(d, locale)) for d in levels.DOCUMENT_TYPES],
            "sharing": identity_service.list_sharing(session=session, subject_id=user.user_id),
            "accesses": identity_service.list_staff_access(session=session, subject_id=user.user_id, locale=locale),
            "guardian_requests": identity_service.list_guardian_requests(session=session, user_id=user.user_id),
            "guardian_path": request.app.state.runtime.settings.guardian_path,
            "guardian_code": guardian_code,
            "form": form or {},
            "notices": notices,
        },
        status_code=status_code,
        headers=NO_STORE,
    )


def _identity_error(act: PageActing, exc: QianshuError, form: dict[str, Any] | None = None) -> HTMLResponse:
    """Render the identity page again with the error's message and status."""
    return _identity_page(
        act.request,
        act.session,
        act.clock,
        act.user,
        error=_message(act.request, exc),
        form=form,
        status_code=exc.status,
    )


async def _verify_then_show(
    act: PageActing, form: dict[str, Any], submit: Callable[[], VerificationRead]
) -> HTMLResponse | RedirectResponse:
    """Run `submit` off the event loop and show the verification, or the identity page with the error."""
    try:
        result = await run_in_threadpool(submit)
    except QianshuError as exc:
        return await run_in_threadpool(_identity_error, act, exc, form)
    return RedirectResponse(f"/identity/verifications/{result.id}", status_code=303)


def _granted(consent: list[str] | None) -> list[str]:
    return [c for c in consent or [] if c in levels.SENSITIVE_PURPOSES]


@router.get("/identity", response_class=HTMLResponse)
def identity_page(
    request: Request, user: PageUser, session: DbSession, clock: ClockDep, open: str = ""
) -> HTMLResponse:
    """Show the person's verification level, the ways to verify, consents and where their data went.

    `?open=<level>` unfolds that way of verifying (e.g. manual review after a failed check).
    """
    form = {"level": open} if open in levels.LEVELS else None
    return _identity_page(request, session, clock, user, form=form)


@router.post("/identity/verify", response_class=HTMLResponse, response_model=None)
async def verify_submit(
    act: PageActingUser,
    settings: SettingsDep,
    level: Annotated[str, Form(max_length=24)],
    name: Annotated[str, Form(max_length=80)] = "",
    id_number: Annotated[str, Form(max_length=40)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    bank_card: Annotated[str, Form(max_length=40)] = "",
    consent: Annotated[list[str] | None, Form()] = None,
    photo: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse | RedirectResponse:
    """Verify at an automatic level from the form (consents ticked here are recorded first)."""
    form = {"level": level, "name": name, "phone": phone}
    try:
        data = await read_upload(photo, settings.identity_max_image_bytes) if level == "face" else None
    except QianshuError as exc:
        return await run_in_threadpool(_identity_error, act, exc, form)
    named: dict[str, Any] = {"level": level, "name": name, "id_number": id_number, "phone": phone or None}
    named |= {"bank_card": bank_card or None, "photo": data, "grant": _granted(consent)}
    call = act.args(user_id=act.user.user_id, locale=act.locale, **named)
    return await _verify_then_show(act, form, lambda: identity_service.verify_now(**call))


@router.post("/identity/review", response_class=HTMLResponse, response_model=None)
async def review_submit(
    act: PageActingUser,
    settings: SettingsDep,
    document_type: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=80)] = "",
    document_number: Annotated[str, Form(max_length=40)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    consent: Annotated[list[str] | None, Form()] = None,
    images: Annotated[list[UploadFile] | None, File()] = None,
) -> HTMLResponse | RedirectResponse:
    """Send document images for manual review from the form."""
    form = {"level": "manual", "document_type": document_type, "name": name, "birth_date": birth_date}
    try:
        limit = settings.identity_max_image_bytes
        blobs = [b for b in [await read_upload(f, limit) for f in images or []] if b is not None]
    except QianshuError as exc:
        return await run_in_threadpool(_identity_error, act, exc, form)
    named: dict[str, Any] = {"doc_type": document_type, "name": name, "document_number": document_number}
    named |= {"birth_date": birth_date or None, "images": blobs, "grant": _granted(consent)}
    call = act.args(user_id=act.user.user_id, locale=act.locale, **named)
    return await _verify_then_show(act, form, lambda: identity_service.submit_review(**call))


@router.get("/identity/verifications/{verification_id}", response_class=HTMLResponse)
def verification_page(
    verification_id: str, request: Request, user: PageUser, session: DbSession, clock: ClockDep
) -> HTMLResponse:
    """Show one verification's state and what to do next."""
    verification = identity_service.get_verification(
        session=session,
        clock=clock,
        user_id=user.user_id,
        verification_id=verification_id,
        locale=locale_of(request),
    )
    return render(request, "identity/verification.html", {"v": verification}, headers=NO_STORE)


@router.post("/identity/verifications/{verification_id}/cancel")
def cancel_submit(verification_id: str, act: PageActingUser) -> RedirectResponse:
    """Cancel an unfinished verification."""
    identity_service.cancel_verification(**act.args(user_id=act.user.user_id, verification_id=verification_id))
    return RedirectResponse("/identity?notice=identity_cancelled", status_code=303)


@router.post("/identity/consents/withdraw", response_class=HTMLResponse, response_model=None)
def withdraw_submit(
    act: PageActingUser, purpose: Annotated[str, Form(max_length=64)]
) -> HTMLResponse | RedirectResponse:
    """Withdraw a sensitive-purpose consent; verifications relying on it stop at once."""
    if purpose not in levels.SENSITIVE_PURPOSES:
        message = "Unknown consent purpose" if locale_of(act.request).startswith("en") else "未知的同意用途"
        return _identity_page(act.request, act.session, act.clock, act.user, error=message, status_code=422)
    identity_service.withdraw_consent(**act.args(user_id=act.user.user_id, purpose=purpose))
    return RedirectResponse("/identity?notice=identity_consent_withdrawn", status_code=303)


@router.post("/identity/guardian/request", response_class=HTMLResponse, response_model=None)
def guardian_request_submit(act: PageActingUser) -> HTMLResponse:
    """Create a guardian code and show it once."""
    try:
        created = identity_service.request_guardian_consent(**act.args(user_id=act.user.user_id))
    except QianshuError as exc:
        return _identity_error(act, exc)
    return _identity_page(act.request, act.session, act.clock, act.user, guardian_code=created)


@router.post("/identity/guardian/confirm", response_class=HTMLResponse, response_model=None)
def guardian_confirm_submit(
    act: PageActingUser,
    code: Annotated[str, Form(max_length=64)] = "",
    child_id_number: Annotated[str, Form(max_length=40)] = "",
    relationship: Annotated[str, Form(max_length=16)] = "parent",
) -> HTMLResponse | RedirectResponse:
    """Confirm a minor's guardian code as their verified parent or guardian."""
    named = {"code": code, "child_id_number": child_id_number, "relationship": relationship}
    try:
        identity_service.confirm_guardian_consent(**act.args(guardian_user_id=act.user.user_id, **named))
    except QianshuError as exc:
        return _identity_error(act, exc, {"relationship": relationship})
    return RedirectResponse("/identity?notice=identity_guardian_confirmed", status_code=303)


@router.post("/identity/guardian/{request_id}/revoke")
def guardian_revoke_submit(request_id: str, act: PageActingUser) -> RedirectResponse:
    """Revoke a consent given as a guardian."""
    identity_service.revoke_guardian_consent(**act.args(guardian_user_id=act.user.user_id, request_id=request_id))
    return RedirectResponse("/identity?notice=identity_guardian_revoked", status_code=303)


# --- operators ------------------------------------------------------------------------------


@router.get("/operator/identity", response_class=HTMLResponse)
def queue_page(
    request: Request, staff: PageReviewer, session: DbSession, clock: ClockDep, status: str = "in_review"
) -> HTMLResponse:
    """Show the manual review queue, masked."""
    if status not in _REVIEW_STATUSES:
        status = "in_review"
    reviews = identity_service.list_reviews(session=session, clock=clock, status=status, locale=locale_of(request))
    return render(
        request,
        "identity/operator_queue.html",
        {"reviews": reviews, "status": status, "statuses": _REVIEW_STATUSES},
        headers=NO_STORE,
    )


def _review_page(
    request: Request,
    session: Session,
    review_id: str,
    *,
    revealed: Any = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = locale_of(request)
    review = revealed or identity_service.get_review(session=session, review_id=review_id, locale=locale)
    reasons = [(k, v[1] if locale.startswith("en") else v[0]) for k, v in REASONS.items()]
    return render(
        request,
        "identity/operator_review.html",
        {
            "review": review,
            "revealed": revealed,
            "reasons": reasons,
            "notices": [Notice("error", error)] if error else [],
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/operator/identity/reviews/{review_id}", response_class=HTMLResponse)
def review_page(review_id: str, request: Request, staff: PageReviewer, session: DbSession) -> HTMLResponse:
    """Show one review masked, with the form to open it (a reason is required)."""
    return _review_page(request, session, review_id)


def _review_error(request: Request, session: Session, review_id: str, exc: QianshuError) -> HTMLResponse:
    """Render the review again with the error's message (a missing review stays a 404)."""
    if exc.status == 404:
        raise exc
    return _review_page(request, session, review_id, error=_message(request, exc), status_code=exc.status)


@router.post("/operator/identity/reviews/{review_id}/reveal", response_class=HTMLResponse)
def reveal_submit(
    review_id: str,
    request: Request,
    staff: PageReviewer,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    reason: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    """Open the review in clear (logged for the person) and show the decision forms."""
    named = {"review_id": review_id, "reason": reason, "note": note, "locale": locale_of(request)}
    try:
        revealed = identity_service.reveal_review(
            session=session, clock=clock, staff_id=staff.user_id, staff_role=staff.role, context=context, **named
        )
    except QianshuError as exc:
        return _review_error(request, session, review_id, exc)
    return _review_page(request, session, review_id, revealed=revealed)


@router.post("/operator/identity/reviews/{review_id}/decide", response_class=HTMLResponse, response_model=None)
def decide_submit(
    review_id: str,
    request: Request,
    staff: PageReviewer,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse | RedirectResponse:
    """Approve or reject the review with a reason shown to the person."""
    named: dict[str, Any] = {
        "review_id": review_id,
        "approve": decision == "approve",
        "reason": reason,
        "locale": locale_of(request),
    }
    try:
        identity_service.decide_review(session=session, clock=clock, staff_id=staff.user_id, context=context, **named)
    except QianshuError as exc:
        return _review_error(request, session, review_id, exc)
    return RedirectResponse("/operator/identity?notice=identity_review_decided", status_code=303)
