"""Guardian consent for minors (promise A8, 个人信息保护法 第31条).

The minor asks for a one-time code (stored hashed, valid 7 days) and gives it to a parent or
guardian. The guardian, signed in to their own account and verified as an adult, confirms it with
the child's ID number; only its blind index is kept, binding the consent to that child. The
minor's verification then goes ahead for that ID number only. Both steps are recorded in both
people's audit streams; a guardian can revoke a consent they gave.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.ids import new_id, new_token
from qianshu.identity import person as person_records
from qianshu.identity.errors import GuardianRequestInvalid, VerificationState
from qianshu.identity.models import GuardianConsent
from qianshu.identity.schemas import GuardianRequestCreated, GuardianRequestRead
from qianshu.identity.store import record
from qianshu.identity.validators import age_on, china_today, parse_id_number
from qianshu.privacy.winddown import check_collection_allowed

REQUEST_DAYS = 7
ADULT_AGE = 18
REQUESTED, CONFIRMED, REVOKED = "requested", "confirmed", "revoked"
_MAX_OPEN = 3


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _read(row: GuardianConsent, *, role: str) -> GuardianRequestRead:
    return GuardianRequestRead(
        id=row.id,
        status=row.status,
        role="guardian" if role == "guardian" else "minor",
        relationship=row.relationship,
        created_at=row.created_at,
        expires_at=row.expires_at,
        confirmed_at=row.confirmed_at,
    )


def request_guardian_consent(
    *, session: Session, clock: Clock, user_id: str, context: RequestContext | None = None
) -> GuardianRequestCreated:
    """Create a guardian code for the minor `user_id` (shown once; hand it to the guardian)."""
    now = clock.now()
    open_count = sum(
        1
        for row in session.scalars(
            select(GuardianConsent).where(
                GuardianConsent.minor_user_id == user_id, GuardianConsent.status == REQUESTED
            )
        )
        if as_utc(row.expires_at) > now
    )
    if open_count >= _MAX_OPEN:
        raise VerificationState(
            "您已有多个未使用的监护人确认码，请先让监护人使用已有的确认码。",
            detail_en="You already have several unused guardian codes; have your guardian use one of them.",
        )
    code = "G-" + new_token(12)
    row = GuardianConsent(
        id=new_id("gdn"),
        minor_user_id=user_id,
        code_hash=_hash(code),
        status=REQUESTED,
        created_at=now,
        expires_at=now + timedelta(days=REQUEST_DAYS),
    )
    session.add(row)
    session.flush()
    record(
        session,
        clock,
        user_id=user_id,
        action="identity.guardian_requested",
        object_id=row.id,
        context=context,
    )
    read = _read(row, role="minor")
    return GuardianRequestCreated(**read.model_dump(), code=code)


def confirm_guardian_consent(
    *,
    session: Session,
    clock: Clock,
    guardian_user_id: str,
    code: str,
    child_id_number: str,
    relationship: str = "parent",
    context: RequestContext | None = None,
) -> GuardianRequestRead:
    """Record a verified adult's consent for the minor who created `code`, bound to the child's ID number."""
    check_collection_allowed(session=session)
    now = clock.now()
    today = china_today(now)
    row = session.scalar(select(GuardianConsent).where(GuardianConsent.code_hash == _hash(code)))
    if row is None or row.status != REQUESTED or as_utc(row.expires_at) <= now:
        raise GuardianRequestInvalid(
            "确认码无效或已过期，请让孩子重新生成确认码。",
            detail_en="The code is unknown or expired; ask the child to create a new one.",
            reason="code",
        )
    if row.minor_user_id == guardian_user_id:
        raise GuardianRequestInvalid(
            "监护人需要使用自己的账户确认，不能由本人确认。",
            detail_en="The guardian confirms from their own account, not the child's.",
            reason="self",
        )
    if relationship not in ("parent", "guardian"):
        raise GuardianRequestInvalid(
            "请选择与孩子的关系", detail_en="Choose your relationship", reason="relationship"
        )
    guardian_birth = person_records.birth_date_of(session, guardian_user_id)
    if guardian_birth is None:
        raise GuardianRequestInvalid(
            "监护人需要先完成本人实名认证，再确认孩子的申请。",
            detail_en="Verify your own identity first, then confirm the child's request.",
            reason="guardian_unverified",
        )
    if age_on(guardian_birth, today) < ADULT_AGE:
        raise GuardianRequestInvalid(
            "监护人须为年满 18 周岁的成年人。",
            detail_en="A guardian must be 18 or over.",
            reason="guardian_minor",
        )
    child = parse_id_number(child_id_number, today=today)
    if age_on(child.birth_date, today) >= ADULT_AGE:
        raise GuardianRequestInvalid(
            "该身份证号码对应的是成年人，无需监护人同意。",
            detail_en="That ID number belongs to an adult, who needs no guardian's consent.",
            reason="child_adult",
        )
    row.status, row.guardian_user_id, row.relationship = CONFIRMED, guardian_user_id, relationship
    row.child_id_bidx = person_records.number_index(session, doc_type="resident_id", number=child.number)
    row.confirmed_at = now
    session.flush()
    data = {"relationship": relationship, "guardian": guardian_user_id, "minor": row.minor_user_id}
    record(
        session,
        clock,
        user_id=row.minor_user_id,
        actor=guardian_user_id,
        action="identity.guardian_confirmed",
        object_id=row.id,
        data=data,
        context=context,
    )
    record(
        session,
        clock,
        user_id=guardian_user_id,
        action="identity.guardian_consent_given",
        object_id=row.id,
        data=data,
        context=context,
    )
    return _read(row, role="guardian")


def revoke_guardian_consent(
    *,
    session: Session,
    clock: Clock,
    guardian_user_id: str,
    request_id: str,
    context: RequestContext | None = None,
) -> GuardianRequestRead:
    """Withdraw a consent the guardian gave; the minor's later checks then need a new one."""
    row = session.get(GuardianConsent, request_id) if len(request_id) <= 40 else None
    if row is None or row.guardian_user_id != guardian_user_id or row.status != CONFIRMED:
        raise GuardianRequestInvalid(
            "未找到可撤回的监护人同意", detail_en="No consent of yours to revoke", reason="none"
        )
    row.status, row.revoked_at = REVOKED, clock.now()
    session.flush()
    for who in (row.minor_user_id, guardian_user_id):
        record(
            session,
            clock,
            user_id=who,
            actor=guardian_user_id,
            action="identity.guardian_revoked",
            object_id=row.id,
            context=context,
        )
    return _read(row, role="guardian")


def list_guardian_requests(*, session: Session, user_id: str) -> list[GuardianRequestRead]:
    """Return the requests the person made as a minor and the consents they gave as a guardian."""
    rows = session.scalars(
        select(GuardianConsent)
        .where(or_(GuardianConsent.minor_user_id == user_id, GuardianConsent.guardian_user_id == user_id))
        .order_by(GuardianConsent.created_at.desc())
    )
    return [_read(r, role="guardian" if r.guardian_user_id == user_id else "minor") for r in rows]


def confirmed_consent_for(session: Session, *, minor_user_id: str, child_bidx: str) -> str | None:
    """Return the id of a live guardian consent for this minor and ID number, or None."""
    return session.scalar(
        select(GuardianConsent.id)
        .where(
            GuardianConsent.minor_user_id == minor_user_id,
            GuardianConsent.status == CONFIRMED,
            GuardianConsent.child_id_bidx == child_bidx,
        )
        .order_by(GuardianConsent.confirmed_at.desc())
        .limit(1)
    )
