"""Automatic verification: start at a level, submit the elements, ask the provider, retry, cancel.

Order of a submission (promises A4, A8, P2, P9): local validation (identity.validators) → the
consents the level needs → the age gate → one document per account → the provider call, made
before this transaction writes anything → record the call in the sharing register → the outcome.
A provider error or time-out leaves the verification `pending` with its elements sealed in the
vault, and a job (identity.tasks) tries again with growing delays; it never marks anyone verified.
Every later call first checks that the consents still stand: a withdrawal cancels the verification
and erases its data, and nothing more is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.identity import gate, levels
from qianshu.identity import guardian as guardians
from qianshu.identity import person as person_records
from qianshu.identity.errors import InvalidImage, ProviderUnavailable, VerificationState
from qianshu.identity.images import CheckedImage, check_image
from qianshu.identity.models import Verification
from qianshu.identity.providers import CheckOutcome, ElementCheck, FaceCheck, face_matcher, identity_checker
from qianshu.identity.schemas import VerificationRead
from qianshu.identity.store import (
    AWAITING,
    CANCELLED,
    FAILED,
    IN_REVIEW,
    PENDING,
    Elements,
    close,
    load_elements,
    lock_person,
    open_rows,
    own_row,
    record,
    store_elements,
    to_read,
)
from qianshu.identity.validators import (
    age_on,
    china_today,
    parse_bank_card,
    parse_id_number,
    parse_mobile,
    parse_name,
)
from qianshu.jobs import service as jobs_service
from qianshu.privacy import service as privacy_service
from qianshu.privacy.winddown import check_collection_allowed
from qianshu.vault import service as vault_service

log = get_logger("qianshu.identity")

CHECK_JOB = "identity.check"
_ELEMENT_LEVELS: dict[str, Literal["two_elements", "three_elements", "four_elements"]] = {
    "two_elements": "two_elements",
    "three_elements": "three_elements",
    "four_elements": "four_elements",
}
_MAX_RETRY_DELAY = 3600


# --- starting -------------------------------------------------------------------------------


def _grant(
    session: Session,
    clock: Clock,
    *,
    user_id: str,
    level: str,
    grant: Sequence[str],
    context: RequestContext | None,
) -> None:
    needed = levels.purposes_for(level)
    for purpose in grant:
        if purpose not in levels.SENSITIVE_PURPOSES:
            raise InvalidInput("未知的同意用途", detail_en="Unknown consent purpose", reason="purpose")
        if purpose in needed:
            privacy_service.grant_consent(
                session=session, clock=clock, user_id=user_id, purpose=purpose, context=context
            )


def _busy_row(session: Session, user_id: str) -> Verification | None:
    return next((r for r in open_rows(session, user_id) if r.status != AWAITING), None)


def _refuse_busy(row: Verification) -> VerificationState:
    return VerificationState(
        "您有一项认证正在处理中，请等待结果后再开始新的认证。",
        detail_en="A verification of yours is still being processed; wait for its result.",
        verification_id=row.id,
    )


def _open_new(
    session: Session,
    clock: Clock,
    *,
    user_id: str,
    level: str,
    context: RequestContext | None,
    row_id: str | None = None,
) -> Verification:
    """Create an awaiting verification, superseding an unsubmitted one (409 while another is in progress)."""
    lock_person(session, user_id)
    busy = _busy_row(session, user_id)
    if busy is not None:
        raise _refuse_busy(busy)
    for old in open_rows(session, user_id):
        close(session, clock, old, status=CANCELLED, reason="superseded", context=context)
    now = clock.now()
    row = Verification(
        id=row_id or new_id("idv"),
        user_id=user_id,
        level=level,
        status=AWAITING,
        doc_type="resident_id",
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        clock,
        user_id=user_id,
        action="identity.verification_started",
        object_id=row.id,
        data={"level": level},
        context=context,
    )
    return row


def _check_level(level: str) -> None:
    if level not in levels.AUTO_LEVELS:
        raise InvalidInput("请选择认证方式", detail_en="Choose a verification level", reason="level")


def start_verification(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    level: str,
    grant: Sequence[str] = (),
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> VerificationRead:
    """Open a verification at an automatic `level` after the consents it needs (granting `grant` first)."""
    _check_level(level)
    check_collection_allowed(session=session)
    busy = _busy_row(session, user_id)
    if busy is not None:
        raise _refuse_busy(busy)
    _grant(session, clock, user_id=user_id, level=level, grant=grant, context=context)
    gate.require_consents(session, user_id=user_id, level=level)
    return to_read(session, _open_new(session, clock, user_id=user_id, level=level, context=context), locale=locale)


# --- submitting -----------------------------------------------------------------------------


def rate_limit(runtime: Runtime, user_id: str) -> None:
    """Count one submission of the person (the check is not a lookup service); 429 over the limit."""
    enforce(runtime, f"identity.check:{user_id}", Limit(runtime.settings.identity_max_checks_per_day, 86400))


def _validate(
    clock: Clock, *, level: str, name: str, id_number: str, phone: str | None, bank_card: str | None
) -> Elements:
    """Check the elements locally (no database, no provider) and return them normalised."""
    today = china_today(clock.now())
    clean_name = parse_name(name)
    resident = parse_id_number(id_number, today=today)
    return Elements(
        name=clean_name,
        id_number=resident.number,
        birth_date=resident.birth_date,
        phone=parse_mobile(phone or "") if level in ("three_elements", "four_elements") else None,
        bank_card=parse_bank_card(bank_card or "") if level == "four_elements" else None,
    )


def _gates(session: Session, clock: Clock, *, user_id: str, level: str, elements: Elements) -> tuple[str, str | None]:
    """Check consents, the age gate and one-document-per-account; return the blind index and guardian id."""
    settings = runtime_of(session).settings
    check_collection_allowed(session=session)
    gate.require_consents(session, user_id=user_id, level=level)
    bidx = person_records.number_index(session, doc_type="resident_id", number=elements.id_number)
    decision = gate.decide_age(settings=settings, age=age_on(elements.birth_date, china_today(clock.now())))
    guardian_id = None
    if decision.outcome == "guardian":
        guardian_id = guardians.confirmed_consent_for(session, minor_user_id=user_id, child_bidx=bidx)
    gate.refuse_or_ask_guardian(settings=settings, decision=decision, guardian_consent_id=guardian_id)
    person_records.check_unique(session, user_id=user_id, bidx=bidx)
    return bidx, guardian_id


def _awaiting(session: Session, *, user_id: str, verification_id: str, face: bool) -> Verification:
    row = own_row(session, user_id=user_id, verification_id=verification_id)
    if row.status != AWAITING:
        raise VerificationState(
            "该认证已提交或已结束，请查看结果或重新开始认证。",
            detail_en="This verification was submitted or has ended; see its result or start again.",
        )
    if (row.level == "face") != face:
        raise VerificationState(
            "提交的内容与所选的认证方式不符。",
            detail_en="What you sent does not fit the chosen level.",
        )
    return row


def _photo(runtime: Runtime, photo: bytes | None) -> CheckedImage:
    if photo is None:
        raise InvalidImage(
            "请拍摄或上传本人正面照片", detail_en="Take or upload a photo of your face", reason="missing"
        )
    return check_image(photo, max_bytes=runtime.settings.identity_max_image_bytes)


def submit_elements(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    verification_id: str,
    name: str,
    id_number: str,
    phone: str | None = None,
    bank_card: str | None = None,
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> VerificationRead:
    """Check the elements of a two-, three- or four-element verification and ask the provider."""
    row = _awaiting(session, user_id=user_id, verification_id=verification_id, face=False)
    elements = _validate(clock, level=row.level, name=name, id_number=id_number, phone=phone, bank_card=bank_card)
    rate_limit(runtime_of(session), user_id)
    gates = _gates(session, clock, user_id=user_id, level=row.level, elements=elements)
    return _submit(session, clock, row=row, elements=elements, gates=gates, context=context, locale=locale)


def submit_face(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    verification_id: str,
    name: str,
    id_number: str,
    photo: bytes | None,
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> VerificationRead:
    """Check a face verification: name, ID number and a live photo compared with the ID record."""
    runtime = runtime_of(session)
    row = _awaiting(session, user_id=user_id, verification_id=verification_id, face=True)
    image = _photo(runtime, photo)
    elements = _validate(clock, level="face", name=name, id_number=id_number, phone=None, bank_card=None)
    rate_limit(runtime, user_id)
    elements.face, elements.face_content_type = image.data, image.content_type
    gates = _gates(session, clock, user_id=user_id, level="face", elements=elements)
    return _submit(session, clock, row=row, elements=elements, gates=gates, context=context, locale=locale)


def verify_now(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    level: str,
    name: str,
    id_number: str,
    phone: str | None = None,
    bank_card: str | None = None,
    photo: bytes | None = None,
    grant: Sequence[str] = (),
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> VerificationRead:
    """Start and submit in one step (the web form): every check runs before anything is written."""
    runtime = runtime_of(session)
    _check_level(level)
    image = _photo(runtime, photo) if level == "face" else None
    elements = _validate(clock, level=level, name=name, id_number=id_number, phone=phone, bank_card=bank_card)
    rate_limit(runtime, user_id)  # counts real attempts only, and runs before this transaction writes
    if image is not None:
        elements.face, elements.face_content_type = image.data, image.content_type
    busy = _busy_row(session, user_id)
    if busy is not None:
        raise _refuse_busy(busy)
    _grant(session, clock, user_id=user_id, level=level, grant=grant, context=context)
    gates = _gates(session, clock, user_id=user_id, level=level, elements=elements)
    row = _open_new(session, clock, user_id=user_id, level=level, context=context)
    return _submit(session, clock, row=row, elements=elements, gates=gates, context=context, locale=locale)


def _submit(
    session: Session,
    clock: Clock,
    *,
    row: Verification,
    elements: Elements,
    gates: tuple[str, str | None],
    context: RequestContext | None,
    locale: str,
) -> VerificationRead:
    bidx, guardian_id = gates  # the number's blind index and the guardian who consented, if any
    outcome = _call_provider(runtime_of(session), level=row.level, reference=row.id, elements=elements)
    lock_person(session, row.user_id)
    session.refresh(row)
    if row.status != AWAITING:
        raise VerificationState(
            "该认证在处理期间已被取消或更改，请重新开始。",
            detail_en="The verification was cancelled or changed meanwhile; start again.",
        )
    return _finish(
        session,
        clock,
        row=row,
        elements=elements,
        bidx=bidx,
        guardian_id=guardian_id,
        outcome=outcome,
        context=context,
        locale=locale,
    )


def _finish(
    session: Session,
    clock: Clock,
    *,
    row: Verification,
    elements: Elements,
    bidx: str,
    guardian_id: str | None,
    outcome: CheckOutcome | ProviderUnavailable,
    context: RequestContext | None,
    locale: str,
) -> VerificationRead:
    now = clock.now()
    row.submitted_at = row.updated_at = now
    row.guardian_consent_id = guardian_id
    row.id_number_bidx = bidx
    record(
        session,
        clock,
        user_id=row.user_id,
        action="identity.elements_submitted",
        object_id=row.id,
        data={"level": row.level, "guardian_consent": guardian_id or ""},
        context=context,
    )
    _apply(session, clock, row, elements, outcome, actor=row.user_id, context=context)
    return to_read(session, row, locale=locale)


# --- the provider call and its outcome ------------------------------------------------------


def _call_provider(
    runtime: Runtime, *, level: str, reference: str, elements: Elements
) -> CheckOutcome | ProviderUnavailable:
    """Ask the provider; return its answer, or the ProviderUnavailable it raised (nothing is written)."""
    if level == "face":
        assert elements.face is not None and elements.face_content_type is not None
        return match_face(
            runtime,
            FaceCheck(
                reference=reference,
                name=elements.name,
                id_number=elements.id_number,
                image=elements.face,
                content_type=elements.face_content_type,
            ),
        )
    try:
        return identity_checker(runtime).check_elements(
            ElementCheck(
                level=_ELEMENT_LEVELS[level],
                reference=reference,
                name=elements.name,
                id_number=elements.id_number,
                phone=elements.phone,
                bank_card=elements.bank_card,
            )
        )
    except ProviderUnavailable as exc:
        return exc


def match_face(runtime: Runtime, check: FaceCheck) -> CheckOutcome | ProviderUnavailable:
    """Ask the face matcher; return its answer, or the ProviderUnavailable it raised (nothing is written)."""
    try:
        return face_matcher(runtime).match_face(check)
    except ProviderUnavailable as exc:
        return exc


def _recipient(runtime: Runtime, level: str) -> str:
    provider = face_matcher(runtime) if level == "face" else identity_checker(runtime)
    return provider.recipient


def _record_call(
    session: Session,
    clock: Clock,
    row: Verification,
    outcome: CheckOutcome | ProviderUnavailable,
    *,
    actor: str,
    context: RequestContext | None,
) -> None:
    """Write the call to the sharing register (when data left) and the audit trail."""
    sent = outcome.sent if isinstance(outcome, ProviderUnavailable) else True
    runtime = runtime_of(session)
    if sent:
        privacy_service.record_sharing(
            session=session,
            clock=clock,
            subject_id=row.user_id,
            recipient=_recipient(runtime, row.level),
            fields=list(levels.PROVIDER_FIELDS[row.level]),
            purpose=f"实名认证：{levels.label(row.level)} / identity verification ({row.level})",
            recipient_kind="identity_provider",
            legal_basis="consent",
            object_id=row.id,
            actor=actor,
            context=context,
        )
    result = outcome.reason if isinstance(outcome, ProviderUnavailable) else outcome.result
    record(
        session,
        clock,
        user_id=row.user_id,
        actor=actor,
        action="identity.provider_called",
        object_id=row.id,
        data={"level": row.level, "attempt": row.attempts + 1, "result": result, "sent": sent},
        context=context,
    )


def failure_reason(level: str, outcome: CheckOutcome, threshold: float) -> str | None:
    """Return None when the outcome verifies the person, else the reason code."""
    if outcome.result == "no_record":
        return "no_record"
    if outcome.result == "mismatch":
        for element in ("phone", "bank_card"):
            if element in outcome.mismatched:
                return f"mismatch_{element}"
        if level == "face" and "face" in outcome.mismatched:
            return "face_mismatch"
        return "mismatch_name"
    if level == "face" and (outcome.score is None or outcome.score < threshold):
        return "face_mismatch"
    return None


def _apply(
    session: Session,
    clock: Clock,
    row: Verification,
    elements: Elements,
    outcome: CheckOutcome | ProviderUnavailable,
    *,
    actor: str,
    context: RequestContext | None,
) -> None:
    runtime = runtime_of(session)
    _record_call(session, clock, row, outcome, actor=actor, context=context)
    row.attempts += 1
    if isinstance(outcome, ProviderUnavailable):
        row.last_error = outcome.reason
        if row.attempts >= runtime.settings.identity_max_attempts:
            close(
                session,
                clock,
                row,
                status=FAILED,
                reason="provider_unavailable",
                actor=actor,
                context=context,
            )
            return
        if row.status != PENDING:
            store_elements(session, row, elements)
            row.status = PENDING
        _schedule_retry(session, clock, row, runtime)
        return
    row.provider_ref = outcome.provider_ref
    row.last_error = None
    reason = failure_reason(row.level, outcome, runtime.settings.identity_face_threshold)
    if reason is None:
        assert row.id_number_bidx is not None
        person_records.complete(session, clock, row, elements, bidx=row.id_number_bidx, actor=actor, context=context)
        return
    close(session, clock, row, status=FAILED, reason=reason, actor=actor, context=context)


def retry_delay(attempts: int) -> timedelta:
    """Return the wait before the next provider call: 30 s, 1 min, 2 min … capped at one hour."""
    return timedelta(seconds=min(_MAX_RETRY_DELAY, 30 * 2 ** max(0, attempts - 1)))


def _schedule_retry(session: Session, clock: Clock, row: Verification, runtime: Runtime) -> None:
    from qianshu.identity.providers import circuit_breaker

    now = clock.now()
    run_at = now + retry_delay(row.attempts)
    reopen = circuit_breaker(runtime).open_until
    if reopen is not None and reopen > run_at:
        run_at = reopen
    row.next_attempt_at, row.updated_at = run_at, now
    session.flush()
    jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=CHECK_JOB,
        payload={"verification_id": row.id},
        delay=run_at - now,
        dedupe_key=f"{CHECK_JOB}:{row.id}:{row.attempts}",
    )
    log.info("identity_check_pending", verification_id=row.id, attempts=row.attempts)


def retry_check(*, session: Session, clock: Clock, verification_id: str) -> str:
    """Run the next provider call of a pending verification (the job's body); return its status."""
    row = session.get(Verification, verification_id)
    if row is None or row.status != PENDING:
        return "skipped"
    if reconcile_consents(session=session, clock=clock, user_id=row.user_id):
        return CANCELLED
    try:
        elements = load_elements(session, row)
    except vault_service.DataShredded:
        close(session, clock, row, status=CANCELLED, reason="data_erased", actor="system")
        return CANCELLED
    attempts_before = row.attempts
    outcome = _call_provider(runtime_of(session), level=row.level, reference=row.id, elements=elements)
    lock_person(session, row.user_id)
    session.refresh(row)
    if row.status != PENDING or row.attempts != attempts_before:
        return "skipped"  # cancelled, or another worker got there first, while we were waiting
    _apply(session, clock, row, elements, outcome, actor="system", context=None)
    return row.status


# --- cancelling, consent withdrawal, reading ------------------------------------------------


def cancel_verification(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    verification_id: str,
    context: RequestContext | None = None,
    locale: str = "zh-CN",
) -> VerificationRead:
    """Cancel one of the person's unfinished verifications and erase what it holds."""
    lock_person(session, user_id)
    row = own_row(session, user_id=user_id, verification_id=verification_id)
    if row.status not in (AWAITING, PENDING, IN_REVIEW):
        raise VerificationState("该认证已结束，无法取消。", detail_en="This verification has already ended.")
    close(session, clock, row, status=CANCELLED, reason="cancelled", context=context)
    return to_read(session, row, locale=locale)


def reconcile_consents(*, session: Session, clock: Clock, user_id: str, context: RequestContext | None = None) -> int:
    """Cancel the person's unfinished verifications whose consents were withdrawn; return how many."""
    cancelled = 0
    for row in open_rows(session, user_id):
        if gate.missing_consents(session, user_id=user_id, level=row.level):
            lock_person(session, user_id)
            session.refresh(row)
            if row.status in (AWAITING, PENDING, IN_REVIEW):
                close(
                    session,
                    clock,
                    row,
                    status=CANCELLED,
                    reason="consent_withdrawn",
                    actor=user_id,
                    context=context,
                )
                cancelled += 1
    return cancelled


def withdraw_consent(
    *, session: Session, clock: Clock, user_id: str, purpose: str, context: RequestContext | None = None
) -> int:
    """Withdraw consent to a sensitive purpose and stop every verification that relied on it."""
    privacy_service.withdraw_consent(session=session, clock=clock, user_id=user_id, purpose=purpose, context=context)
    return reconcile_consents(session=session, clock=clock, user_id=user_id, context=context)


def on_consent_withdrawn(
    *, session: Session, clock: Clock, user_id: str, purpose: str, context: RequestContext | None = None
) -> int:
    """React to a withdrawal recorded elsewhere (a privacy hook): cancel what relied on `purpose`."""
    if purpose not in levels.SENSITIVE_PURPOSES:
        return 0
    return reconcile_consents(session=session, clock=clock, user_id=user_id, context=context)


def get_verification(
    *, session: Session, clock: Clock, user_id: str, verification_id: str, locale: str = "zh-CN"
) -> VerificationRead:
    """Return one of the person's verifications (after applying any consent withdrawal)."""
    reconcile_consents(session=session, clock=clock, user_id=user_id)
    return to_read(session, own_row(session, user_id=user_id, verification_id=verification_id), locale=locale)


def list_verifications(
    *, session: Session, user_id: str, limit: int = 20, locale: str = "zh-CN"
) -> list[VerificationRead]:
    """Return the person's verifications, newest first."""
    rows = session.scalars(
        select(Verification)
        .where(Verification.user_id == user_id)
        .order_by(Verification.created_at.desc())
        .limit(limit)
    )
    return [to_read(session, row, locale=locale) for row in rows]
