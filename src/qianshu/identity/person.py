"""Verified persons: recording a successful verification, the certificate it earns, and lookups.

A person keeps the strongest level they reached; one document verifies one account (blind index
of the number, unique). On success the identity service asks the PKI for the person's certificate
(promise C1); when the CA cannot issue right now, a job retries and the verification stands.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.errors import QianshuError
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.identity import levels
from qianshu.identity.errors import IdentityMismatch, IdentityRequired, IdentityTaken
from qianshu.identity.models import Person, Verification
from qianshu.identity.schemas import IdentityRead
from qianshu.identity.store import PERSON_TABLE, VERIFIED, Elements, record, seal, unseal, wipe
from qianshu.jobs import service as jobs_service
from qianshu.privacy.centre_schemas import DataField, DataSection
from qianshu.vault import service as vault_service

log = get_logger("qianshu.identity")

CERTIFICATE_JOB = "identity.issue_certificate"


def open_column(session: Session, person: Person, column: str) -> str:
    """Return one of a verified person's sealed columns (name, id_number, birth_date) in clear."""
    blob: bytes = getattr(person, f"{column}_enc")
    return unseal(session, user_id=person.user_id, table=PERSON_TABLE, column=column, row_id=person.user_id, blob=blob)


def number_index(session: Session, *, doc_type: str, number: str) -> str:
    """Return the blind index of a document number (resident ID numbers unprefixed)."""
    value = number if doc_type == "resident_id" else f"{doc_type}:{number}"
    return vault_service.blind_index(session=session, kind="id_number", value=value)


def check_unique(session: Session, *, user_id: str, bidx: str) -> None:
    """Refuse a document verified by another account, or one unlike this account's verified document."""
    from sqlalchemy import select

    other = session.scalar(select(Person.user_id).where(Person.id_number_bidx == bidx))
    if other is not None and other != user_id and vault_service.is_shredded(session=session, subject_id=other):
        # The account that held this document was cancelled and its data crypto-shredded: free the
        # document for a new account (the old row keeps only unreadable ciphertexts).
        released = session.get(Person, other)
        assert released is not None
        released.id_number_bidx = f"released:{other}"
        session.flush()
        other = None
    if other is not None and other != user_id:
        raise IdentityTaken(
            "该证件已被其他账户完成实名认证。如非本人操作，请联系平台客服。",
            detail_en="Another account is already verified with this document; contact support if not you.",
        )
    own = session.get(Person, user_id)
    if own is not None and own.id_number_bidx != bidx:
        raise IdentityMismatch(
            "您的账户已使用其他证件完成实名认证，提升认证等级时请使用同一证件。",
            detail_en="Your account is verified with another document; use the same one to raise the level.",
        )


def _seal(session: Session, user_id: str, column: str, value: str) -> bytes:
    return seal(session, user_id=user_id, table=PERSON_TABLE, column=column, row_id=user_id, value=value)


def complete(
    session: Session,
    clock: Clock,
    row: Verification,
    elements: Elements,
    *,
    bidx: str,
    actor: str | None = None,
    context: RequestContext | None = None,
    keep_images: bool = False,
) -> None:
    """Mark `row` verified, record the person (keeping the stronger level) and request the certificate."""
    now = clock.now()
    person = session.get(Person, row.user_id)
    if person is None:
        person = Person(
            user_id=row.user_id,
            level=row.level,
            doc_type=elements.doc_type,
            verification_id=row.id,
            name_enc=b"",
            id_number_enc=b"",
            id_number_bidx=bidx,
            birth_date_enc=b"",
            verified_at=now,
            updated_at=now,
        )
        session.add(person)
    elif levels.rank(row.level) > levels.rank(person.level):
        person.level, person.verification_id, person.verified_at = row.level, row.id, now
    person.doc_type = elements.doc_type
    person.name_enc = _seal(session, row.user_id, "name", elements.name)
    person.id_number_enc = _seal(session, row.user_id, "id_number", elements.id_number)
    person.birth_date_enc = _seal(session, row.user_id, "birth_date", elements.birth_date.isoformat())
    person.updated_at = now
    row.status, row.failure_reason, row.id_number_bidx = VERIFIED, None, bidx
    row.completed_at = row.updated_at = now
    row.next_attempt_at = None
    wipe(session, row, keep_images=keep_images)
    session.flush()
    record(
        session,
        clock,
        user_id=row.user_id,
        actor=actor,
        action="identity.verified",
        object_id=row.id,
        data={"level": row.level, "doc_type": elements.doc_type, "person_level": person.level},
        context=context,
    )
    ensure_certificate(session=session, clock=clock, user_id=row.user_id, name=elements.name)


def ensure_certificate(
    *, session: Session, clock: Clock, user_id: str, name: str | None = None, queue_retry: bool = True
) -> str | None:
    """Make sure the verified person holds a usable certificate; on a CA failure queue a retry job."""
    person = session.get(Person, user_id)
    if person is None:
        return None
    try:
        from qianshu.pki import service as pki_service
    except ImportError:  # pragma: no cover - the PKI ships with the platform
        log.warning("identity_pki_missing", user_id=user_id)
        return None
    current = pki_service.current_certificate_for(session=session, subject_id=user_id)
    if current is not None and current.status == "active" and as_utc(current.not_after) > clock.now():
        person.certificate_id = current.id
        return current.id
    if name is None:
        name = open_column(session, person, "name")
    try:
        with session.begin_nested():
            cert = pki_service.issue_person_certificate(session=session, clock=clock, subject_id=user_id, name=name)
    except QianshuError as exc:
        log.warning("identity_certificate_deferred", user_id=user_id, error=exc.slug)
        if not queue_retry:
            return None
        jobs_service.enqueue(
            session=session,
            clock=clock,
            kind=CERTIFICATE_JOB,
            payload={"user_id": user_id},
            delay=jobs_service.backoff(1),
        )
        return None
    person.certificate_id = cert.id
    session.flush()
    return cert.id


def get_identity(*, session: Session, user_id: str) -> IdentityRead | None:
    """Return the person's verified identity (level, dates; no personal data), or None."""
    person = session.get(Person, user_id)
    if person is None:
        return None
    return IdentityRead(
        user_id=person.user_id,
        level=person.level,
        doc_type=person.doc_type,
        verified_at=person.verified_at,
        certificate_id=person.certificate_id,
    )


def verified_level(*, session: Session, user_id: str) -> str | None:
    """Return the strongest level the person verified at, or None."""
    person = session.get(Person, user_id)
    return person.level if person is not None else None


def can_sign(*, session: Session, user_id: str) -> bool:
    """Tell whether the person's verified level meets `QIANSHU_SIGNING_IDENTITY_LEVEL` (promise A7)."""
    required = runtime_of(session).settings.signing_identity_level
    return levels.meets(verified_level(session=session, user_id=user_id), required)


def require_signing_identity(*, session: Session, user_id: str) -> IdentityRead:
    """Return the person's identity when it allows signing; raise IdentityRequired (403) otherwise."""
    required = runtime_of(session).settings.signing_identity_level
    identity = get_identity(session=session, user_id=user_id)
    if identity is None or not levels.meets(identity.level, required):
        raise IdentityRequired(
            f"签署合同前请先完成实名认证（至少：{levels.label(required)}）。",
            detail_en=f"Complete real-name verification before signing (at least: {levels.label(required, 'en')}).",
            required_level=required,
            verify_url="/identity",
        )
    return identity


def verified_name(*, session: Session, user_id: str) -> str | None:
    """Return the verified name in clear (for certificates and signature appearances), or None."""
    person = session.get(Person, user_id)
    if person is None:
        return None
    return open_column(session, person, "name")


def matches_verified_identity(*, session: Session, user_id: str, name: str, id_number: str) -> bool:
    """Tell whether `name` and resident `id_number` are exactly the user's own verified identity."""
    import hmac

    from qianshu.identity import validators

    person = session.get(Person, user_id)
    if person is None or person.doc_type != "resident_id":
        return False
    try:
        resident = validators.parse_id_number(id_number, today=runtime_of(session).clock.now().date())
        wanted = validators.parse_name(name)
    except QianshuError:
        return False
    given = number_index(session, doc_type="resident_id", number=resident.number)
    if not hmac.compare_digest(given, person.id_number_bidx):
        return False
    return verified_name(session=session, user_id=user_id) == wanted


def birth_date_of(session: Session, user_id: str) -> date | None:
    """Return a verified person's birth date (for the guardian's own age check), or None."""
    person = session.get(Person, user_id)
    if person is None:
        return None
    text = open_column(session, person, "birth_date")
    return date.fromisoformat(text)


def masked(session: Session, user_id: str) -> tuple[str | None, str | None]:
    """Return the verified name and number masked for display (None when unverified or erased)."""
    from qianshu.vault.masking import mask_id_number, mask_name

    person = session.get(Person, user_id)
    if person is None:
        return None, None
    try:
        name = open_column(session, person, "name")
        number = open_column(session, person, "id_number")
    except vault_service.DataShredded:
        return None, None
    return mask_name(name), mask_id_number(number)


def personal_section(session: Session, user_id: str) -> DataSection | None:
    """Return what identity holds about the person, in clear, for the privacy centre (P3, P4)."""
    from sqlalchemy import select

    person = session.get(Person, user_id)
    rows = list(
        session.scalars(
            select(Verification).where(Verification.user_id == user_id).order_by(Verification.created_at.desc())
        )
    )
    if person is None and not rows:
        return None
    fields: list[DataField] = []
    if person is not None:
        name: str | None
        number: str | None
        born: str | None
        try:
            name = open_column(session, person, "name")
            number = open_column(session, person, "id_number")
            born = open_column(session, person, "birth_date")
        except vault_service.DataShredded:
            name = number = born = None
        fields = [
            DataField(name="level", label="认证方式", label_en="Level", value=levels.label(person.level)),
            DataField(
                name="doc_type",
                label="证件类型",
                label_en="Document type",
                value=levels.document_label(person.doc_type),
            ),
            DataField(
                name="name",
                label="姓名",
                label_en="Name",
                value=name,
                mask="name",
                correct="reverify",
                correct_url="/identity",
            ),
            DataField(
                name="id_number",
                label="证件号码",
                label_en="Document number",
                value=number,
                mask="id_number",
                sensitive=True,
                correct="reverify",
                correct_url="/identity",
            ),
            DataField(
                name="birth_date",
                label="出生日期",
                label_en="Birth date",
                value=born,
                mask="name",
                sensitive=True,
            ),
            DataField(
                name="verified_at",
                label="认证时间",
                label_en="Verified",
                value=person.verified_at.isoformat(),
            ),
            DataField(name="certificate_id", label="数字证书", label_en="Certificate", value=person.certificate_id),
        ]
    records = [
        {
            "id": row.id,
            "level": row.level,
            "status": row.status,
            "doc_type": row.doc_type,
            "reason": row.failure_reason,
            "created_at": row.created_at.isoformat(),
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        }
        for row in rows
    ]
    return DataSection(
        key="identity",
        title="实名认证信息",
        title_en="Identity",
        fields=fields,
        records=records,
        note="姓名和证件号码如需更正，请重新完成实名认证。未完成的认证在结束后即删除所提交的信息。",
        note_en="To correct your name or document number, verify again. Unfinished checks keep no data.",
    )
