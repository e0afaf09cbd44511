"""Enterprise verification (promise A6): the application and each of its steps.

An application (`Org` in status `draft`) is complete when four steps are done:

1. business licence uploaded and approved by an operator (`reviews.py`);
2. legal representative verified: the applicant's own verified identity when they are the legal
   representative, else a two-element check by the identity domain's provider;
3. agent (经办人) authorised: automatically when the applicant is the legal representative, else by
   an authorisation letter (operator review) or by the legal representative confirming by SMS link;
4. corporate bank account checked by micro-deposit (`deposits.py`).

The step that completes the application marks the organisation verified and has the PKI issue
its certificate (O = name, organizationIdentifier = USCC), in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from qianshu.core.ids import new_id, new_token
from qianshu.core.logging import get_logger
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import runtime_of
from qianshu.orgs import persons
from qianshu.orgs.errors import (
    InvalidUscc,
    LegalRepCheckFailed,
    OrgAlreadyVerified,
    OrgStateConflict,
    PersonNotVerified,
)
from qianshu.orgs.images import check_document_image
from qianshu.orgs.models import LegalRepConfirmation, MicroDeposit, Org, OrgDocument, OrgMember
from qianshu.orgs.records import (
    ACTIVE,
    DRAFT,
    VERIFIED,
    audit,
    is_expired,
    lock_org,
    membership,
    open_text,
    org_for,
    seal_bytes,
    seal_text,
)
from qianshu.orgs.roles import Permission, Role, allows
from qianshu.orgs.schemas import (
    ConfirmationRead,
    ConfirmationView,
    DocumentRead,
    LegalRepIn,
    OrgCreate,
    OrgRead,
    OrgSummary,
    StepsRead,
)
from qianshu.orgs.uscc import UsccError, UsccInfo, parse_uscc
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_id_number, mask_name, mask_phone
from qianshu.vault.normalise import normalise_phone

log = get_logger("qianshu.orgs")

ORG_TABLE = "orgs_org"
DOC_TABLE = "orgs_document"
LICENCE, LETTER = "licence", "authorisation_letter"
PENDING, APPROVED, REJECTED, SUPERSEDED = "pending_review", "approved", "rejected", "superseded"
_NAME_MAX = 64  # RFC 5280 ub-organization-name; the certificate's O attribute
_PERSON_NAME_MAX = 64
_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")  # GB 11643-1999 shape; the identity domain checks the rest
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")


@dataclass(frozen=True)
class OrgInfo:
    """An organisation as other domains see it: public registration data and state."""

    id: str
    name: str
    uscc: str
    status: str
    certificate_id: str | None


# --- input ----------------------------------------------------------------------------------


def check_uscc(value: str) -> UsccInfo:
    """Return the parts of a valid USCC; raise InvalidUscc (422) naming the failed rule."""
    try:
        return parse_uscc(value)
    except UsccError as exc:
        raise InvalidUscc(exc.message, detail_en=exc.message_en, reason=exc.reason) from None


def clean_text(value: str, *, max_len: int, what: str, what_en: str, min_len: int = 2) -> str:
    """Return free text NFKC-normalised with whitespace collapsed; check its length and characters."""
    text = " ".join(unicodedata.normalize("NFKC", value).split())
    if not min_len <= len(text) <= max_len:
        raise InvalidInput(
            f"{what}长度须为 {min_len} 至 {max_len} 个字符",
            detail_en=f"The {what_en} must have {min_len} to {max_len} characters",
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise InvalidInput(f"{what}含有不可见或控制字符", detail_en=f"The {what_en} contains control characters")
    return text


def _clean_org_name(value: str) -> str:
    return clean_text(value, max_len=_NAME_MAX, what="企业名称", what_en="organisation name")


def _clean_id_number(value: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", value).split()).upper()
    if not _ID_NUMBER.fullmatch(text):
        raise InvalidInput(
            "身份证号码应为 18 位（最后一位可为 X）",
            detail_en="An ID number has 18 characters (the last may be X)",
        )
    return text


def clean_phone(value: str) -> str:
    """Return a mainland mobile number (11 digits), or raise InvalidInput."""
    phone = normalise_phone(value or "")
    if not _PHONE.fullmatch(phone):
        raise InvalidInput("请输入 11 位中国大陆手机号", detail_en="Enter an 11-digit mainland China mobile number")
    return phone


def _require_draft(org: Org) -> None:
    if org.status != DRAFT:
        raise OrgStateConflict("企业已完成认证，不能再修改认证资料", detail_en="The organisation is verified already")


def rate_limit(session: Session, key: str, count: int, seconds: int) -> None:
    """Count one event for `key` (own transaction); raise RateLimited over `count` per `seconds`."""
    enforce(runtime_of(session), key, Limit(count, seconds))


# --- reading --------------------------------------------------------------------------------


def _open(session: Session, org: Org, column: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    try:
        return open_text(session, org_id=org.id, table=ORG_TABLE, column=column, row_id=org.id, blob=blob)
    except vault_service.DataShredded:
        return None


def _bank_account(session: Session, org: Org) -> str | None:
    last4 = session.scalar(
        select(MicroDeposit.account_last4)
        .where(MicroDeposit.org_id == org.id)
        .order_by(MicroDeposit.created_at.desc(), MicroDeposit.id.desc())
        .limit(1)
    )
    return f"**** {last4}" if last4 else None


def org_read(session: Session, org: Org, member: OrgMember) -> OrgRead:
    """Build the member's view of the organisation (personal data masked, and only for verifiers)."""
    info = parse_uscc(org.uscc)
    sees_details = allows(member.role, Permission.VERIFY)
    name = _open(session, org, "legal_rep_name", org.legal_rep_name_enc) if sees_details else None
    id_number = _open(session, org, "legal_rep_id", org.legal_rep_id_enc) if sees_details else None
    return OrgRead(
        id=org.id,
        name=org.name,
        uscc=org.uscc,
        status=org.status,
        role=member.role,
        verified_at=org.verified_at,
        created_at=org.created_at,
        certificate_id=org.certificate_id,
        category=info.category_label,
        steps=StepsRead(
            licence=org.licence_status,
            legal_rep=org.legal_rep_status,
            legal_rep_method=org.legal_rep_method,
            agent=org.agent_status,
            agent_method=org.agent_method,
            bank=org.bank_status,
        ),
        legal_rep_name=mask_name(name) if name else None,
        legal_rep_id_number=mask_id_number(id_number) if id_number else None,
        bank_account=_bank_account(session, org) if sees_details else None,
    )


def get_org(*, session: Session, org_id: str, user_id: str) -> OrgRead:
    """Return the organisation as the member `user_id` sees it (404 for non-members)."""
    org, member = org_for(session, org_id=org_id, user_id=user_id)
    return org_read(session, org, member)


def list_my_orgs(*, session: Session, user_id: str) -> list[OrgSummary]:
    """Return the organisations the user is an active member of, newest first."""
    rows = session.execute(
        select(Org, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Org.id)
        .where(OrgMember.user_id == user_id, OrgMember.status == ACTIVE)
        .order_by(Org.created_at.desc(), Org.id)
    ).all()
    return [
        OrgSummary(id=o.id, name=o.name, uscc=o.uscc, status=o.status, role=role, verified_at=o.verified_at)
        for o, role in rows
    ]


def get_org_info(*, session: Session, org_id: str) -> OrgInfo | None:
    """Return an organisation's public registration data and state (for other domains), or None."""
    org = session.get(Org, org_id)
    if org is None:
        return None
    return OrgInfo(id=org.id, name=org.name, uscc=org.uscc, status=org.status, certificate_id=org.certificate_id)


def member_role(*, session: Session, org_id: str, user_id: str) -> str | None:
    """Return the user's role in the organisation, or None when they are not an active member."""
    member = membership(session, org_id=org_id, user_id=user_id)
    return member.role if member else None


def document_read(doc: OrgDocument) -> DocumentRead:
    """Return a document's metadata (never its image)."""
    return DocumentRead(
        id=doc.id,
        org_id=doc.org_id,
        kind=doc.kind,
        status=doc.status,
        content_type=doc.content_type,
        size_bytes=doc.size_bytes,
        width=doc.width,
        height=doc.height,
        uploaded_at=doc.uploaded_at,
        reviewed_at=doc.reviewed_at,
        reject_reason=doc.reject_reason,
    )


def list_documents(*, session: Session, org_id: str, user_id: str) -> list[DocumentRead]:
    """Return the organisation's uploaded documents (metadata only), newest first."""
    org_for(session, org_id=org_id, user_id=user_id, permission=Permission.VERIFY)
    rows = session.scalars(
        select(OrgDocument).where(OrgDocument.org_id == org_id).order_by(OrgDocument.uploaded_at.desc())
    )
    return [document_read(d) for d in rows]


# --- creating -------------------------------------------------------------------------------


def create_org(
    *, session: Session, clock: Clock, actor_id: str, data: OrgCreate, context: RequestContext | None = None
) -> OrgRead:
    """Open an enterprise application with the applicant as its owner."""
    info = check_uscc(data.uscc)
    name = _clean_org_name(data.name)
    if session.scalar(select(Org.id).where(Org.verified_uscc == info.code)) is not None:
        raise OrgAlreadyVerified(detail_en="An organisation with this code is verified already")
    mine = session.scalar(
        select(Org.id).where(Org.uscc == info.code, Org.applicant_id == actor_id, Org.status == DRAFT)
    )
    if mine is not None:
        raise Conflict(
            "您已有该企业的认证申请，请继续完成",
            detail_en="You already have an application for it",
            org_id=mine,
        )
    rate_limit(session, f"orgs.create:{actor_id}", 10, 24 * 3600)
    now = clock.now()
    org = Org(
        id=new_id("org"),
        name=name,
        uscc=info.code,
        status=DRAFT,
        applicant_id=actor_id,
        created_at=now,
        updated_at=now,
        licence_status="missing",
        legal_rep_status="missing",
        agent_status="missing",
        bank_status="missing",
    )
    session.add(org)
    session.flush()
    vault_service.ensure_data_key(session=session, subject_id=org.id)
    member = OrgMember(
        id=new_id("mem"),
        org_id=org.id,
        user_id=actor_id,
        role=Role.OWNER.value,
        status=ACTIVE,
        added_by=actor_id,
        created_at=now,
        updated_at=now,
    )
    session.add(member)
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.created",
        data={"uscc": info.code},
        context=context,
    )
    log.info("org_created", org_id=org.id)
    return org_read(session, org, member)


# --- documents ------------------------------------------------------------------------------


def _store_document(session: Session, clock: Clock, *, org: Org, kind: str, actor_id: str, data: bytes) -> OrgDocument:
    checked = check_document_image(data, max_bytes=runtime_of(session).settings.org_document_max_bytes)
    session.execute(
        update(OrgDocument)
        .where(
            OrgDocument.org_id == org.id,
            OrgDocument.kind == kind,
            OrgDocument.status == PENDING,
        )
        .values(status=SUPERSEDED)
    )
    doc_id = new_id("doc")
    doc = OrgDocument(
        id=doc_id,
        org_id=org.id,
        kind=kind,
        status=PENDING,
        content_type=checked.content_type,
        size_bytes=len(checked.data),
        width=checked.width,
        height=checked.height,
        image_enc=seal_bytes(
            session, org_id=org.id, table=DOC_TABLE, column="image", row_id=doc_id, value=checked.data
        ),
        uploaded_by=actor_id,
        uploaded_at=clock.now(),
    )
    session.add(doc)
    session.flush()
    return doc


def upload_licence(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: bytes,
    context: RequestContext | None = None,
) -> DocumentRead:
    """Store the business-licence image (encrypted) and queue it for operator review."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.VERIFY, lock=True)
    _require_draft(org)
    doc = _store_document(session, clock, org=org, kind=LICENCE, actor_id=actor_id, data=data)
    org.licence_status, org.updated_at = PENDING, clock.now()
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.licence_uploaded",
        object_id=doc.id,
        data={"content_type": doc.content_type, "size_bytes": doc.size_bytes},
        context=context,
    )
    return document_read(doc)


# --- legal representative -------------------------------------------------------------------


def _reset_agent(session: Session, org: Org) -> None:
    org.agent_status, org.agent_method, org.agent_user_id, org.agent_authorised_at = (
        "missing",
        None,
        None,
        None,
    )
    session.execute(
        update(OrgDocument)
        .where(OrgDocument.org_id == org.id, OrgDocument.kind == LETTER, OrgDocument.status == PENDING)
        .values(status=SUPERSEDED)
    )
    session.execute(
        update(LegalRepConfirmation)
        .where(LegalRepConfirmation.org_id == org.id, LegalRepConfirmation.status == "pending")
        .values(status="superseded")
    )


def submit_legal_rep(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: LegalRepIn,
    context: RequestContext | None = None,
) -> OrgRead:
    """Verify and store the legal representative (encrypted); authorise the applicant when it is them."""
    org, member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.VERIFY)
    _require_draft(org)
    if not data.authorised:
        raise InvalidInput(
            "请确认您已获得法定代表人授权提供其身份信息",
            detail_en="Confirm that you may provide the legal representative's details",
        )
    name = clean_text(data.name, max_len=_PERSON_NAME_MAX, what="姓名", what_en="name")
    id_number = _clean_id_number(data.id_number)
    rate_limit(session, f"orgs.legal_rep:{org.id}", 10, 24 * 3600)
    if persons.is_verified(session=session, user_id=actor_id) and persons.is_same_person(
        session=session, user_id=actor_id, name=name, id_number=id_number
    ):
        method, rep_user = "self", actor_id
    elif persons.check_person(
        session=session,
        clock=clock,
        actor=actor_id,
        subject_id=org.id,
        name=name,
        id_number=id_number,
        context=context,
    ):
        method, rep_user = "identity_check", None
    else:
        raise LegalRepCheckFailed(
            "法定代表人姓名与身份证号码核验未通过", detail_en="The name and ID number did not pass the check"
        )
    org = lock_org(session, org.id)
    _require_draft(org)
    previous = (
        _open(session, org, "legal_rep_name", org.legal_rep_name_enc),
        _open(session, org, "legal_rep_id", org.legal_rep_id_enc),
    )
    changed = previous != (name, id_number)
    now = clock.now()
    org.legal_rep_name_enc = seal_text(
        session, org_id=org.id, table=ORG_TABLE, column="legal_rep_name", row_id=org.id, value=name
    )
    org.legal_rep_id_enc = seal_text(
        session, org_id=org.id, table=ORG_TABLE, column="legal_rep_id", row_id=org.id, value=id_number
    )
    org.legal_rep_status, org.legal_rep_method, org.legal_rep_user_id = VERIFIED, method, rep_user
    org.legal_rep_verified_at = org.updated_at = now
    if changed and org.agent_method in ("legal_rep", "confirmation", "letter"):
        _reset_agent(session, org)
    newly_authorised = method == "self" and org.agent_status != "authorised"
    if newly_authorised:
        _reset_agent(session, org)
        org.agent_status, org.agent_method, org.agent_user_id, org.agent_authorised_at = (
            "authorised",
            "legal_rep",
            actor_id,
            now,
        )
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.legal_rep_verified",
        data={"method": method},
        context=context,
    )
    if newly_authorised:
        audit(
            session,
            clock,
            org_id=org.id,
            actor=actor_id,
            action="org.agent_authorised",
            data={"method": "legal_rep", "agent": actor_id},
            context=context,
        )
    complete_if_ready(session=session, clock=clock, org=org, actor=actor_id, context=context)
    return org_read(session, org, member)


# --- agent authorisation --------------------------------------------------------------------


def _require_agent_open(org: Org) -> None:
    if org.agent_status == "authorised":
        raise OrgStateConflict("经办人已获授权", detail_en="The agent is authorised already")


def upload_authorisation_letter(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: bytes,
    context: RequestContext | None = None,
) -> DocumentRead:
    """Store the signed authorisation letter naming the applicant as agent; queue it for review."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.VERIFY, lock=True)
    _require_draft(org)
    _require_agent_open(org)
    if not persons.is_verified(session=session, user_id=actor_id):
        raise PersonNotVerified(
            "经办人须先完成个人实名认证", detail_en="The agent must complete real-name verification"
        )
    doc = _store_document(session, clock, org=org, kind=LETTER, actor_id=actor_id, data=data)
    session.execute(
        update(LegalRepConfirmation)
        .where(LegalRepConfirmation.org_id == org.id, LegalRepConfirmation.status == "pending")
        .values(status="superseded")
    )
    org.agent_status, org.agent_method, org.agent_user_id = PENDING, "letter", actor_id
    org.updated_at = clock.now()
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.agent_letter_uploaded",
        object_id=doc.id,
        data={"content_type": doc.content_type, "size_bytes": doc.size_bytes},
        context=context,
    )
    return document_read(doc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def request_legal_rep_confirmation(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    phone: str,
    context: RequestContext | None = None,
) -> ConfirmationRead:
    """Text the legal representative a link to confirm the applicant as the organisation's agent."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.VERIFY)
    _require_draft(org)
    _require_agent_open(org)
    if org.legal_rep_status != VERIFIED:
        raise OrgStateConflict("请先提交并核验法定代表人信息", detail_en="Submit the legal representative first")
    if not persons.is_verified(session=session, user_id=actor_id):
        raise PersonNotVerified(
            "经办人须先完成个人实名认证", detail_en="The agent must complete real-name verification"
        )
    number = clean_phone(phone)
    settings = runtime_of(session).settings
    rate_limit(session, f"orgs.confirm:{org.id}", 5, 24 * 3600)
    org = lock_org(session, org.id)
    session.execute(
        update(LegalRepConfirmation)
        .where(LegalRepConfirmation.org_id == org.id, LegalRepConfirmation.status == "pending")
        .values(status="superseded")
    )
    token = new_token()
    now = clock.now()
    row = LegalRepConfirmation(
        id=new_id("lrc"),
        org_id=org.id,
        token_hash=_token_hash(token),
        status="pending",
        agent_user_id=actor_id,
        created_at=now,
        expires_at=now + timedelta(days=settings.legal_rep_confirmation_days),
    )
    session.add(row)
    org.agent_status, org.agent_method, org.agent_user_id, org.updated_at = (
        "pending_confirmation",
        "confirmation",
        actor_id,
        now,
    )
    session.flush()
    from qianshu.notify import service as notify_service

    notify_service.send_sms(
        session=session,
        clock=clock,
        subject_id=org.id,
        phone=number,
        template="org_legal_rep_confirm",
        params={"org_name": org.name, "token": token},
        locale=context.locale if context is not None else "zh-CN",
    )
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.agent_confirmation_requested",
        object_id=row.id,
        context=context,
    )
    return ConfirmationRead(id=row.id, status=row.status, sent_to=mask_phone(number), expires_at=row.expires_at)


def _confirmation(session: Session, token: str, *, lock: bool = False) -> LegalRepConfirmation:
    query = select(LegalRepConfirmation).where(LegalRepConfirmation.token_hash == _token_hash(token or ""))
    if lock:
        query = query.with_for_update()
    row = session.scalar(query) if 16 <= len(token or "") <= 128 else None
    if row is None or row.status == "superseded":
        raise NotFound("确认链接无效或已失效", detail_en="The confirmation link is invalid or was replaced")
    return row


def _agent_label(session: Session, user_id: str) -> str:
    from qianshu.accounts import service as accounts_service

    try:
        profile = accounts_service.get_profile(session=session, user_id=user_id)
    except NotFound:
        return user_id
    return profile.display_name or profile.phone or profile.email or user_id


def view_confirmation(*, session: Session, clock: Clock, token: str) -> ConfirmationView:
    """Return what the legal representative is asked to confirm (organisation, masked agent)."""
    row = _confirmation(session, token)
    org = session.get(Org, row.org_id)
    assert org is not None
    status = "expired" if row.status == "pending" and is_expired(row.expires_at, clock.now()) else row.status
    return ConfirmationView(
        org_id=org.id,
        org_name=org.name,
        uscc=org.uscc,
        agent_label=_agent_label(session, row.agent_user_id),
        status=status,
        expires_at=row.expires_at,
    )


def confirm_agent_as_legal_rep(
    *, session: Session, clock: Clock, user_id: str, token: str, context: RequestContext | None = None
) -> ConfirmationView:
    """As the legal representative (verified identity must match), authorise the applicant as agent."""
    row = _confirmation(session, token)
    if row.status != "pending" or is_expired(row.expires_at, clock.now()):
        raise Conflict("该确认请求已处理或已过期", detail_en="This request was handled already or expired")
    org = session.get(Org, row.org_id)
    assert org is not None
    name = _open(session, org, "legal_rep_name", org.legal_rep_name_enc)
    id_number = _open(session, org, "legal_rep_id", org.legal_rep_id_enc)
    if not persons.is_verified(session=session, user_id=user_id):
        raise PersonNotVerified("请先完成个人实名认证后再确认", detail_en="Complete your real-name verification first")
    if not (
        name and id_number and persons.is_same_person(session=session, user_id=user_id, name=name, id_number=id_number)
    ):
        raise Forbidden("只有法定代表人本人可以确认授权", detail_en="Only the legal representative can confirm")
    row = _confirmation(session, token, lock=True)
    org = lock_org(session, row.org_id)
    if (
        row.status != "pending"
        or org.status != DRAFT
        or org.agent_status != "pending_confirmation"
        or org.agent_user_id != row.agent_user_id
    ):
        raise Conflict("该确认请求已处理或已过期", detail_en="This request was handled already or expired")
    now = clock.now()
    row.status, row.confirmed_by, row.confirmed_at = "confirmed", user_id, now
    org.agent_status, org.agent_authorised_at, org.legal_rep_user_id, org.updated_at = (
        "authorised",
        now,
        user_id,
        now,
    )
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=user_id,
        action="org.agent_authorised",
        object_id=row.id,
        data={"method": "confirmation", "agent": row.agent_user_id},
        context=context,
    )
    complete_if_ready(session=session, clock=clock, org=org, actor=user_id, context=context)
    return view_confirmation(session=session, clock=clock, token=token)


# --- completion -----------------------------------------------------------------------------


def _steps_done(org: Org) -> bool:
    return (
        org.licence_status == APPROVED
        and org.legal_rep_status == VERIFIED
        and org.agent_status == "authorised"
        and org.bank_status == VERIFIED
    )


def complete_if_ready(
    *, session: Session, clock: Clock, org: Org, actor: str, context: RequestContext | None = None
) -> bool:
    """Mark the organisation verified and get its certificate once every step is done; tell if it did."""
    if org.status != DRAFT or not _steps_done(org):
        return False
    taken = session.scalar(select(Org.id).where(Org.verified_uscc == org.uscc, Org.id != org.id))
    if taken is not None:
        raise OrgAlreadyVerified(detail_en="An organisation with this code is verified already")
    from qianshu.pki import service as pki_service

    now = clock.now()
    org.status, org.verified_uscc, org.verified_at, org.updated_at = VERIFIED, org.uscc, now, now
    try:
        session.flush()
    except IntegrityError:
        raise OrgAlreadyVerified(detail_en="An organisation with this code is verified already") from None
    cert = pki_service.issue_org_certificate(
        session=session,
        clock=clock,
        subject_id=org.id,
        org_name=org.name,
        uscc=org.uscc,
        actor=actor,
        context=context,
    )
    org.certificate_id = cert.id
    if org.agent_user_id:
        agent = membership(session, org_id=org.id, user_id=org.agent_user_id)
        if agent is not None and agent.role == Role.MEMBER.value:
            agent.role, agent.updated_at = Role.AGENT.value, now
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor,
        action="org.verified",
        data={"uscc": org.uscc, "certificate_id": cert.id},
        context=context,
    )
    log.info("org_verified", org_id=org.id, certificate_id=cert.id)
    return True
