"""Contracts from draft to sent, and their routing: who signs when, decline, revoke, expiry.

States: draft → sent → completed | declined | revoked | expired (revoked also from draft).
Routing: each signer has a `routing_order`; the signers with the lowest order not yet signed are
the active group. Equal orders sign in parallel, increasing orders in sequence, a mix of both in
groups. Every change records its event in the contract's hash-chained stream `contract:<id>`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from qianshu.contracts import webhooks
from qianshu.contracts.errors import (
    ContractExpired,
    ContractNotFound,
    ContractState,
    FieldInvalid,
    RecipientInvalid,
)
from qianshu.contracts.models import Contract, ContractDocument, ContractField, ContractRecipient
from qianshu.contracts.schemas import (
    SIGNATURE_KINDS,
    ContractCreate,
    ContractRead,
    FieldIn,
    FieldRead,
    RecipientIn,
    RecipientRead,
    SentRead,
    SigningLink,
)
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.ids import is_id, new_id, new_token
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.jobs import service as jobs_service
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_email, mask_phone

log = get_logger("qianshu.contracts")

SYSTEM = vault_service.SYSTEM_SUBJECT
EXPIRE_JOB = "contracts.expire"
NOTIFY_JOB = "contracts.notify"
_TABLE, _RCP_TABLE, _FIELD_TABLE = "contracts_contract", "contracts_recipient", "contracts_field"
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
FINISHED = ("completed", "declined", "revoked", "expired")


def stream(contract_id: str) -> str:
    """Return the audit stream of a contract."""
    return f"contract:{contract_id}"


def token_hash(token: str) -> str:
    """Return the stored hash of a signing-link token."""
    return hashlib.sha256(f"contracts.link.v1:{token}".encode()).hexdigest()


def record(
    session: Session,
    clock: Clock,
    contract_id: str,
    *,
    actor: str,
    action: str,
    object_id: str | None = None,
    data: dict[str, object] | None = None,
    context: RequestContext | None = None,
    new_stream: bool = False,
) -> str:
    """Record one event in the contract's audit chain (`new_stream`: its first, as the contract is created)."""
    return evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream(contract_id),
        actor=actor,
        action=action,
        object_id=object_id or contract_id,
        data=dict(data or {}),
        context=context,
        new_stream=new_stream,
    )


def seal_text(session: Session, *, table: str, column: str, row_id: str, value: str) -> bytes:
    """Encrypt a value of a contract row under the platform subject (contracts outlive accounts)."""
    return vault_service.encrypt_field(
        session=session, subject_id=SYSTEM, table=table, column=column, row_id=row_id, value=value
    )


def open_text(session: Session, *, table: str, column: str, row_id: str, blob: bytes) -> str:
    """Decrypt a value sealed with `seal_text`."""
    return vault_service.decrypt_field(
        session=session, subject_id=SYSTEM, table=table, column=column, row_id=row_id, blob=blob
    )


def contact_of(session: Session, row: ContractRecipient) -> str:
    """Return the recipient's phone or e-mail in clear (for sending messages)."""
    return open_text(session, table=_RCP_TABLE, column="contact", row_id=row.id, blob=row.contact_enc)


def _masked(session: Session, row: ContractRecipient) -> str:
    value = contact_of(session, row)
    return mask_phone(value) if row.channel == "phone" else mask_email(value)


def _clean_contact(data: RecipientIn) -> tuple[str, str]:
    phone = (data.phone or "").strip().replace(" ", "").replace("-", "")
    if phone.startswith("+86"):
        phone = phone[3:]
    email = (data.email or "").strip().lower()
    if phone and email:
        raise RecipientInvalid("每位签署方只填写手机号或邮箱中的一个", detail_en="Give a phone or an e-mail, not both")
    if phone:
        if not _PHONE_RE.fullmatch(phone):
            raise RecipientInvalid("手机号格式不正确", detail_en="Malformed mobile number")
        return "phone", phone
    if email:
        if not _EMAIL_RE.fullmatch(email) or len(email) > 254:
            raise RecipientInvalid("邮箱格式不正确", detail_en="Malformed e-mail address")
        return "email", email
    raise RecipientInvalid("签署方缺少手机号或邮箱", detail_en="A recipient needs a phone number or an e-mail address")


# --- reading --------------------------------------------------------------------------------


def contract_row(session: Session, contract_id: str) -> Contract:
    """Return the contract row or raise ContractNotFound."""
    row = session.get(Contract, contract_id) if is_id(contract_id, "ctr") else None
    if row is None:
        raise ContractNotFound()
    return row


def owned_row(session: Session, contract_id: str, owner_id: str) -> Contract:
    """Return the sender's contract row or raise ContractNotFound (others' contracts look absent)."""
    row = contract_row(session, contract_id)
    if row.owner_id != owner_id:
        raise ContractNotFound()
    return row


# Built once: nearly every request reads them, and building and keying a statement costs about as
# much Python time as running it.
_RECIPIENTS_OF = (
    select(ContractRecipient)
    .where(ContractRecipient.contract_id == bindparam("contract_id"))
    .order_by(ContractRecipient.routing_order, ContractRecipient.created_at, ContractRecipient.id)
    .execution_options(populate_existing=True)
)
_FIELDS_OF = (
    select(ContractField).where(ContractField.contract_id == bindparam("contract_id")).order_by(ContractField.id)
)


def recipients_of(session: Session, contract_id: str) -> list[ContractRecipient]:
    """Return the contract's recipients in routing order."""
    return list(session.scalars(_RECIPIENTS_OF, {"contract_id": contract_id}))


def fields_of(session: Session, contract_id: str) -> list[ContractField]:
    """Return the contract's fields."""
    return list(session.scalars(_FIELDS_OF, {"contract_id": contract_id}))


def field_read(row: ContractField) -> FieldRead:
    """Return the API view of a field."""
    return FieldRead(
        id=row.id,
        recipient_id=row.recipient_id,
        kind=row.kind,
        page=row.page,
        x1=row.x1,
        y1=row.y1,
        x2=row.x2,
        y2=row.y2,
        required=row.required,
        filled=row.filled_at is not None,
    )


def recipient_read(session: Session, row: ContractRecipient) -> RecipientRead:
    """Return the API view of a recipient (contact masked)."""
    return RecipientRead(
        id=row.id,
        role=row.role,
        kind=row.kind,
        routing_order=row.routing_order,
        contact_masked=_masked(session, row),
        org_id=row.org_id,
        seal_id=row.seal_id,
        status=row.status,
        signed_at=row.signed_at,
    )


def title_of(session: Session, row: Contract) -> str:
    """Return the contract's title in clear."""
    return open_text(session, table=_TABLE, column="title", row_id=row.id, blob=row.title_enc)


def contract_read(
    session: Session,
    row: Contract,
    *,
    recipients: Sequence[ContractRecipient] | None = None,
    fields: Sequence[ContractField] | None = None,
) -> ContractRead:
    """Return the API view of a contract (with its `recipients` and `fields` when the caller has them)."""
    if recipients is None:
        recipients = recipients_of(session, row.id)
    if fields is None:
        fields = fields_of(session, row.id)
    return ContractRead(
        id=row.id,
        title=title_of(session, row),
        status=row.status,  # type: ignore[arg-type]  # the column holds ContractStatus values
        document_id=row.document_id,
        deadline=row.deadline,
        original_sha256=row.original_sha256,
        signed_sha256=row.signed_sha256,
        signatures=row.signatures,
        created_at=row.created_at,
        sent_at=row.sent_at,
        finished_at=row.finished_at,
        recipients=[recipient_read(session, r) for r in recipients],
        fields=[field_read(f) for f in fields],
    )


def active_order(recipients: list[ContractRecipient]) -> int | None:
    """Return the routing order of the group whose turn it is (None when every signer signed)."""
    # A signer whose seal use awaits approval (用印审批) still holds their group's turn.
    pending = [r.routing_order for r in recipients if r.role == "signer" and r.status in ("waiting", "awaiting_seal")]
    return min(pending) if pending else None


def is_overdue(row: Contract, now: datetime) -> bool:
    """Tell whether the contract's deadline has passed."""
    return row.deadline is not None and as_utc(row.deadline) <= now


def require_open(row: Contract, clock: Clock) -> None:
    """Raise unless the contract is sent and before its deadline."""
    if row.status == "sent" and is_overdue(row, clock.now()):
        raise ContractExpired()
    if row.status != "sent":
        raise ContractState(
            f"合同当前状态为 {row.status}，不能签署",
            detail_en=f"The contract is {row.status}",
            status_now=row.status,
        )


# --- creating -------------------------------------------------------------------------------


def check_field(doc: ContractDocument, field: FieldIn) -> None:
    """Refuse a field that does not lie inside its page's box (in PDF points)."""
    if field.page >= len(doc.pages):
        raise FieldInvalid(
            f"第 {field.page + 1} 页不存在（文档共 {len(doc.pages)} 页）",
            detail_en=f"Page {field.page + 1} does not exist (the document has {len(doc.pages)})",
        )
    x1, y1, x2, y2 = (float(v) for v in doc.pages[field.page])
    if field.x1 < x1 or field.y1 < y1 or field.x2 > x2 or field.y2 > y2:
        raise FieldInvalid(
            f"签署区域超出第 {field.page + 1} 页的页面范围",
            detail_en=f"The field lies outside page {field.page + 1}",
        )


def _check_recipients(data: ContractCreate) -> None:
    signers = [r for r in data.recipients if r.role == "signer"]
    if not signers:
        raise RecipientInvalid("合同至少需要一位签署方", detail_en="A contract needs at least one signer")
    for r in data.recipients:
        check_recipient_fields(role=r.role, kind=r.kind, fields=r.fields, org_id=r.org_id, seal_id=r.seal_id)


def check_recipient_fields(
    *, role: str, kind: str, fields: Sequence[FieldIn], org_id: str | None, seal_id: str | None
) -> None:
    """Check one recipient's fields: none for CC, exactly one signature (person) or seal (organisation)."""
    if role == "cc" and fields:
        raise RecipientInvalid("抄送人不能有签署区域", detail_en="CC recipients have no fields")
    if role == "signer":
        marks = sum(f.kind in SIGNATURE_KINDS for f in fields)
        if marks == 0:
            raise RecipientInvalid(
                "每位签署方需要一个签名或盖章区域",
                detail_en="Each signer needs one signature or seal field",
            )
        if marks > 1:
            raise RecipientInvalid(
                "每位签署方只能有一个签名或盖章区域",
                detail_en="Each signer has exactly one signature or seal field",
            )
    if kind == "org":
        if not (org_id and seal_id):
            raise RecipientInvalid(
                "企业签署方需要指定企业和印章",
                detail_en="An organisation signer needs org_id and seal_id",
            )
        if any(f.kind == "signature" for f in fields):
            raise RecipientInvalid("企业签署方使用盖章区域", detail_en="Organisation signers use a seal field")
    elif org_id or seal_id or any(f.kind == "seal" for f in fields):
        raise RecipientInvalid("个人签署方不能使用印章", detail_en="Person signers cannot use a seal")


def new_field(contract_id: str, recipient_id: str, field: FieldIn) -> ContractField:
    """Return a new row for one checked field of a recipient (signature and seal fields are always required)."""
    place = field.model_dump(include={"kind", "page", "x1", "y1", "x2", "y2"})
    required = field.required or field.kind in SIGNATURE_KINDS
    return ContractField(
        id=new_id("fld"), contract_id=contract_id, recipient_id=recipient_id, required=required, **place
    )


def add_field(session: Session, contract_id: str, recipient_id: str, field: FieldIn) -> None:
    """Add one checked field of a recipient (signature and seal fields are always required)."""
    session.add(new_field(contract_id, recipient_id, field))


def create_contract(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    data: ContractCreate,
    context: RequestContext | None = None,
    contract_id: str | None = None,
) -> ContractRead:
    """Create a draft contract with its recipients and fields, all checked before anything is written.

    `contract_id`: the fresh id to use (made here when not given).
    """
    doc = session.get(ContractDocument, data.document_id) if is_id(data.document_id, "doc") else None
    if doc is None or doc.owner_id != owner_id:
        raise ContractNotFound("未找到该文档", detail_en="No such document")
    now = clock.now()
    if data.deadline is not None:
        if data.deadline.tzinfo is None:
            raise FieldInvalid("截止时间需要带时区", detail_en="The deadline needs a time zone")
        if data.deadline <= now:
            raise ContractExpired("截止时间必须晚于当前时间", detail_en="The deadline must lie in the future")
    _check_recipients(data)
    contacts = [_clean_contact(r) for r in data.recipients]
    for r in data.recipients:
        for f in r.fields:
            check_field(doc, f)
    seen: set[str] = set()
    for r, (_channel, value) in zip(data.recipients, contacts, strict=True):
        key = f"{r.role}:{r.org_id}:{value}"
        if key in seen:
            raise RecipientInvalid("同一签署方重复出现", detail_en="The same recipient appears twice")
        seen.add(key)
    contract_id = contract_id or new_id("ctr")
    title = " ".join((data.title or "").split()) or _doc_title(session, doc)
    row = Contract(
        id=contract_id,
        owner_id=owner_id,
        document_id=doc.id,
        title_enc=seal_text(session, table=_TABLE, column="title", row_id=contract_id, value=title),
        status="draft",
        deadline=data.deadline,
        original_sha256=doc.sha256,
        current_blob_id=doc.blob_id,
        signatures=0,
        created_at=now,
    )
    session.add(row)
    recipients: list[ContractRecipient] = []
    fields: list[ContractField] = []
    for r, (channel, value) in zip(data.recipients, contacts, strict=True):
        rid = new_id("rcp")
        recipients.append(
            ContractRecipient(
                id=rid,
                contract_id=contract_id,
                role=r.role,
                kind=r.kind,
                routing_order=r.routing_order if r.role == "signer" else 0,
                channel=channel,
                contact_enc=seal_text(session, table=_RCP_TABLE, column="contact", row_id=rid, value=value),
                contact_bidx=vault_service.blind_index(session=session, kind=channel, value=value),
                org_id=r.org_id,
                seal_id=r.seal_id,
                token_hash=token_hash(new_token()),  # replaced when sent; a link exists only once sent
                status="waiting",
                created_at=now,
            )
        )
        fields += (new_field(contract_id, rid, f) for f in r.fields)
    session.add_all(recipients)
    session.add_all(fields)
    session.flush()
    record(
        session,
        clock,
        contract_id,
        actor=owner_id,
        action="contract.created",
        data={
            "document_id": doc.id,
            "original_sha256": doc.sha256,
            "signers": sum(r.role == "signer" for r in data.recipients),
            "cc": sum(r.role == "cc" for r in data.recipients),
            "orders": sorted({r.routing_order for r in data.recipients if r.role == "signer"}),
        },
        context=context,
        new_stream=True,
    )
    log.info("contract_created", contract_id=contract_id)
    recipients.sort(key=lambda r: (r.routing_order, r.created_at, r.id))  # as recipients_of orders them
    fields.sort(key=lambda f: f.id)
    return contract_read(session, row, recipients=recipients, fields=fields)


def _doc_title(session: Session, doc: ContractDocument) -> str:
    return vault_service.decrypt_field(
        session=session,
        subject_id=doc.owner_id,
        table="contracts_document",
        column="title",
        row_id=doc.id,
        blob=doc.title_enc,
    )


def lock_contract(session: Session, contract_id: str, owner_id: str | None = None) -> Contract:
    """Serialise writers of one contract until the transaction ends; return the fresh row.

    PostgreSQL: a row lock (SELECT … FOR UPDATE). SQLite: a write statement takes the database
    write lock now (the driver opens the transaction at the first write), so the re-read below
    sees every committed signature and nobody else writes until we commit. With `owner_id`, only
    that sender's contract is locked; anyone else's looks absent and stays unlocked.
    """
    match = Contract.id == contract_id
    if owner_id is not None:
        match = match & (Contract.owner_id == owner_id)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Contract)
            .where(match)
            .values(signatures=Contract.signatures)
            .execution_options(synchronize_session=False)
        )
        stmt = select(Contract).where(match)
    else:
        stmt = select(Contract).where(match).with_for_update()
    row = session.scalar(stmt.execution_options(populate_existing=True))
    if row is None:
        raise ContractNotFound()
    return row


def lock_owned(session: Session, contract_id: str, owner_id: str) -> Contract:
    """Lock the sender's contract (see `lock_contract`) and return it; others' contracts look absent."""
    if not is_id(contract_id, "ctr"):
        raise ContractNotFound()
    return lock_contract(session, contract_id, owner_id)


def _new_link(session: Session, row: ContractRecipient) -> str:
    token = new_token()
    sealed = seal_text(session, table=_RCP_TABLE, column="token", row_id=row.id, value=token)  # may autoflush
    row.token_hash, row.token_enc = token_hash(token), sealed
    return f"{runtime_of(session).settings.public_base_url}/sign/{token}"


def _token_of(session: Session, row: ContractRecipient) -> str | None:
    if row.token_enc is None:
        return None
    return open_text(session, table=_RCP_TABLE, column="token", row_id=row.id, blob=row.token_enc)


def send_contract(
    *, session: Session, clock: Clock, owner_id: str, contract_id: str, context: RequestContext | None = None
) -> SentRead:
    """Send a draft: mint each signer's link, notify the first group and the CC recipients."""
    row = lock_owned(session, contract_id, owner_id)
    if row.status != "draft":
        raise ContractState("只有草稿可以发送", detail_en="Only a draft can be sent", status_now=row.status)
    now = clock.now()
    if is_overdue(row, now):
        raise ContractExpired()
    recipients = recipients_of(session, contract_id)
    links = [SigningLink(recipient_id=r.id, url=_new_link(session, r)) for r in recipients]
    row.status, row.sent_at = "sent", now
    session.flush()
    first = active_order(recipients)
    tokens = {link.recipient_id: link.url.rsplit("/", 1)[1] for link in links}
    for r in recipients:
        if r.role == "cc" or r.routing_order == first:
            _notify(
                session,
                clock,
                r,
                "contract_sign_request" if r.role == "signer" else "contract_cc",
                {"token": tokens[r.id]},
            )
    if row.deadline is not None:
        jobs_service.enqueue(
            session=session,
            clock=clock,
            kind=EXPIRE_JOB,
            payload={"contract_id": contract_id},
            delay=as_utc(row.deadline) - now,
        )
    from qianshu.contracts import reminders  # the automatic reminders' first run (contracts/reminders.py)

    reminders.schedule_reminders(
        session=session, clock=clock, contract_id=contract_id, recipients=recipients, at_sending=True
    )
    record(
        session,
        clock,
        contract_id,
        actor=owner_id,
        action="contract.sent",
        data={"active_order": first},
        context=context,
    )
    webhooks.emit(session, clock, row, "contract.sent")
    log.info("contract_sent", contract_id=contract_id)
    return SentRead(contract=contract_read(session, row, recipients=recipients), links=links)


def _notify(session: Session, clock: Clock, r: ContractRecipient, template: str, params: dict[str, object]) -> None:
    from qianshu.notify import service as notify_service

    contact = contact_of(session, r)
    if r.channel == "phone":
        notify_service.send_sms(
            session=session,
            clock=clock,
            subject_id=SYSTEM,
            phone=contact,
            template=template,
            params=params,
            locale="zh-CN",
        )
    else:
        notify_service.send_email(
            session=session,
            clock=clock,
            subject_id=SYSTEM,
            email=contact,
            template=template,
            params=params,
            locale="zh-CN",
        )


def notify_recipient(
    session: Session, clock: Clock, r: ContractRecipient, template: str, params: dict[str, object]
) -> None:
    """Send one contract message to a recipient by their channel."""
    _notify(session, clock, r, template, params)


def notify_next_group(session: Session, clock: Clock, contract_id: str, *, done_order: int) -> None:
    """Notify the group whose turn it now is, when the group of `done_order` has just finished."""
    recipients = recipients_of(session, contract_id)
    order = active_order(recipients)
    if order is None or order == done_order:
        return
    for r in recipients:
        token = _token_of(session, r)
        if r.role == "signer" and r.status == "waiting" and r.routing_order == order and token:
            _notify(session, clock, r, "contract_sign_request", {"token": token})


def _finish(session: Session, clock: Clock, row: Contract, status: str, reason: str | None) -> None:
    row.status, row.finished_at = status, clock.now()
    if reason is not None:
        row.reason_enc = seal_text(session, table=_TABLE, column="reason", row_id=row.id, value=reason)
    session.flush()


def revoke_contract(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    contract_id: str,
    reason: str,
    context: RequestContext | None = None,
) -> ContractRead:
    """Revoke (撤回) a draft or sent contract before it completes; tell the recipients."""
    row = lock_owned(session, contract_id, owner_id)
    if row.status not in ("draft", "sent"):
        raise ContractState("合同已结束，不能撤回", detail_en="The contract is finished", status_now=row.status)
    was_sent = row.status == "sent"
    _finish(session, clock, row, "revoked", reason.strip())
    if was_sent:
        for r in recipients_of(session, contract_id):
            _notify(session, clock, r, "contract_revoked", {"contract": contract_id})
    record(session, clock, contract_id, actor=owner_id, action="contract.revoked", context=context)
    webhooks.emit(session, clock, row, "contract.revoked")
    return contract_read(session, row)


def decline(
    session: Session,
    clock: Clock,
    row: Contract,
    r: ContractRecipient,
    reason: str,
    context: RequestContext | None,
) -> None:
    """Record a signer's refusal: the contract ends as declined and the sender is told."""
    r.status = "declined"
    r.reason_enc = seal_text(session, table=_RCP_TABLE, column="reason", row_id=r.id, value=reason.strip())
    _finish(session, clock, row, "declined", None)
    record(
        session,
        clock,
        row.id,
        actor=r.user_id or r.id,
        action="contract.declined",
        object_id=r.id,
        context=context,
    )
    webhooks.emit(session, clock, row, "recipient.declined", recipient=r)
    for other in recipients_of(session, row.id):
        if other.id != r.id:
            _notify(session, clock, other, "contract_declined", {"contract": row.id})


def expire_contract(*, session: Session, clock: Clock, contract_id: str) -> bool:
    """Mark a sent contract expired once its deadline passed; tell whether it did."""
    row = lock_contract(session, contract_id)
    if row.status != "sent" or not is_overdue(row, clock.now()):
        return False
    _finish(session, clock, row, "expired", None)
    record(session, clock, contract_id, actor="system", action="contract.expired")
    webhooks.emit(session, clock, row, "contract.expired")
    return True


def list_contracts(
    *,
    session: Session,
    user_id: str,
    contact_bidxs: list[str],
    box: str = "all",
    limit: int = 100,
    query: str = "",
) -> list[ContractRead]:
    """Return the contracts the user sent or receives (by contact index), filtered by `box`.

    Boxes: `all`, `mine` (my turn to sign), `others` (sent, waiting for others), `completed`,
    `closed` (declined, revoked, expired). `query` keeps the contracts whose title contains it
    (case-insensitive) or whose id starts with it; titles are vault ciphertexts, so the match runs
    on the decrypted titles of the user's own contracts, never in SQL.
    """
    needle = query.strip().casefold()[:100]
    received = select(ContractRecipient.contract_id).where(ContractRecipient.contact_bidx.in_(contact_bidxs))
    stmt = select(Contract).where((Contract.owner_id == user_id) | Contract.id.in_(received))
    if box == "completed":
        stmt = stmt.where(Contract.status == "completed")
    elif box == "closed":
        stmt = stmt.where(Contract.status.in_(("declined", "revoked", "expired")))
    elif box in ("mine", "others"):
        stmt = stmt.where(Contract.status == "sent")
    rows = list(session.scalars(stmt.order_by(Contract.created_at.desc()).limit(limit)))
    out = []
    for row in rows:
        if box in ("mine", "others"):
            recipients = recipients_of(session, row.id)
            order = active_order(recipients)
            mine = any(
                r.contact_bidx in contact_bidxs
                and r.role == "signer"
                and r.status == "waiting"
                and r.routing_order == order
                for r in recipients
            )
            if mine != (box == "mine"):
                continue
        read = contract_read(session, row)
        if needle and needle not in read.title.casefold() and not read.id.startswith(needle):
            continue
        out.append(read)
    return out


def signing_path_for(session: Session, contract_id: str, contact_bidxs: list[str]) -> str | None:
    """Return `/sign/<token>` of the signer among `contact_bidxs` (a signed-in recipient), or None."""
    row = contract_row(session, contract_id)
    if row.status == "draft":
        return None
    for r in recipients_of(session, contract_id):
        if r.role == "signer" and r.contact_bidx in contact_bidxs:
            token = _token_of(session, r)
            if token:
                return f"/sign/{token}"
    return None
