"""What integrators need around the contract flow: idempotent creation, pages of contracts, signing URLs.

- `Idempotency-Key` on contract creation: for 24 hours a record under a hash of the key (per owner)
  keeps the request body's hash and the id of the contract it created, nothing else (no title, no
  contact). The same key with the same body answers with that contract again, rebuilt from the
  contract (nothing new is created); the same key with another body is refused (422
  `idempotency-key-reused`); a second request while the first is still running gets 409
  `idempotency-key-in-use`. The daily retention sweep deletes records older than 24 hours.
- Contracts are listed newest first with keyset pagination: `limit` (1–100) and the opaque
  `cursor` from the previous page's `next_cursor` (null on the last page).
- A signer's signing URL can be fetched again for embedding; the link alone still proves nothing:
  the signer confirms their phone or e-mail with a one-time code before signing (C4).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.contracts import cursors, flow
from qianshu.contracts.errors import ContractNotFound, ContractState
from qianshu.contracts.integrator_schemas import ContractPage, SigningUrlRead
from qianshu.contracts.models import Contract, ContractRecipient, IdempotencyRecord
from qianshu.contracts.schemas import ContractCreate, ContractRead
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.ids import is_id, new_id

IDEMPOTENCY_TTL = timedelta(hours=24)
_SCAN = 500  # rows looked at per page when a box filters after the query


class IdempotencyKeyReused(InvalidInput):
    """The Idempotency-Key was used before with a different request body."""

    slug = "idempotency-key-reused"
    title = "幂等键已用于另一个请求"
    title_en = "The idempotency key was used for a different request"


class IdempotencyKeyInUse(Conflict):
    """A request with the same Idempotency-Key is still being processed."""

    slug = "idempotency-key-in-use"
    title = "相同幂等键的请求正在处理中"
    title_en = "A request with this idempotency key is in progress"


def _key_hash(owner_id: str, key: str) -> str:
    return hashlib.sha256(f"contracts.idempotency.v1:{owner_id}:{key}".encode()).hexdigest()


def _body_hash(data: ContractCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_contract_once(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    data: ContractCreate,
    idempotency_key: str | None,
    context: RequestContext | None = None,
) -> tuple[ContractRead, bool]:
    """Create a draft, at most once per idempotency key; return it and whether it is a replayed answer."""
    if idempotency_key is None:
        return flow.create_contract(session=session, clock=clock, owner_id=owner_id, data=data, context=context), False
    key = idempotency_key.strip()
    if not 1 <= len(key) <= 100 or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key 须为 1–100 个可打印 ASCII 字符",
            detail_en="Idempotency-Key must be 1-100 printable ASCII characters",
        )
    key_hash, body_hash, now = _key_hash(owner_id, key), _body_hash(data), clock.now()
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.owner_id == owner_id, IdempotencyRecord.key_hash == key_hash
    )
    found = session.scalar(stmt)
    if found is not None and as_utc(found.created_at) + IDEMPOTENCY_TTL > now:
        if found.request_sha256 != body_hash:
            raise IdempotencyKeyReused(
                "该 Idempotency-Key 已用于内容不同的请求",
                detail_en="This Idempotency-Key was already used with a different body",
            )
        # The record is written with the contract id, in the contract's own transaction.
        return flow.contract_read(session, flow.owned_row(session, found.contract_id, owner_id)), True
    if found is not None:
        session.delete(found)
        session.flush()
    contract_id = new_id("ctr")  # the record names it from the start: both commit together or not at all
    marker = IdempotencyRecord(
        id=new_id("idem"),
        owner_id=owner_id,
        key_hash=key_hash,
        request_sha256=body_hash,
        contract_id=contract_id,
        created_at=now,
    )
    session.add(marker)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request with the same key committed first
        session.rollback()  # nothing of this request was written before the marker
        raise IdempotencyKeyInUse() from None
    read = flow.create_contract(
        session=session, clock=clock, owner_id=owner_id, data=data, context=context, contract_id=contract_id
    )
    return read, False


def purge_idempotency_records(*, session: Session, clock: Clock) -> int:
    """Delete the idempotency records older than `IDEMPOTENCY_TTL`; return how many."""
    cutoff = clock.now() - IDEMPOTENCY_TTL
    stmt = delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= cutoff)
    result = session.execute(stmt.execution_options(synchronize_session="fetch"))
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of a DELETE


def list_contracts_page(
    *,
    session: Session,
    owner_id: str,
    contact_bidxs: list[str],
    box: str = "all",
    cursor: str | None = None,
    limit: int = 50,
) -> ContractPage:
    """Return one page of the contracts the owner sent or receives (by contact index), newest first.

    Boxes as in `flow.list_contracts`. With `mine`/`others` a page may hold fewer than `limit`
    items; keep following `next_cursor` until it is null.
    """
    limit = max(1, min(limit, cursors.MAX_LIMIT))
    cond = Contract.owner_id == owner_id
    if contact_bidxs:
        received = select(ContractRecipient.contract_id).where(ContractRecipient.contact_bidx.in_(contact_bidxs))
        cond = cond | Contract.id.in_(received)
    stmt = select(Contract).where(cond)
    if box == "completed":
        stmt = stmt.where(Contract.status == "completed")
    elif box == "closed":
        stmt = stmt.where(Contract.status.in_(("declined", "revoked", "expired")))
    elif box in ("mine", "others"):
        stmt = stmt.where(Contract.status == "sent")
    position = cursors.after(Contract.created_at, Contract.id, cursor)
    if position is not None:
        stmt = stmt.where(position)
    filtered = box in ("mine", "others")
    scan = _SCAN if filtered else limit + 1
    rows = list(session.scalars(stmt.order_by(Contract.created_at.desc(), Contract.id.desc()).limit(scan)))
    items: list[ContractRead] = []
    last: Contract | None = None
    for row in rows:
        if len(items) == limit:
            break
        last = row
        if filtered and _is_my_turn(session, row, contact_bidxs) != (box == "mine"):
            continue
        items.append(flow.contract_read(session, row))
    # More rows follow when the page filled before the last row fetched, or when the scan stopped
    # at its cap rather than at the end.
    more = last is not None and (rows[-1] is not last or (filtered and len(rows) == scan))
    next_cursor = cursors.encode(last.created_at, last.id) if more and last is not None else None
    return ContractPage(items=items, next_cursor=next_cursor)


def _is_my_turn(session: Session, row: Contract, contact_bidxs: list[str]) -> bool:
    recipients = flow.recipients_of(session, row.id)
    order = flow.active_order(recipients)
    return any(
        r.contact_bidx in contact_bidxs and r.role == "signer" and r.status == "waiting" and r.routing_order == order
        for r in recipients
    )


def signing_url(*, session: Session, owner_id: str, contract_id: str, recipient_id: str) -> SigningUrlRead:
    """Return a waiting signer's signing link of the owner's sent contract (for embedded signing)."""
    from qianshu.core.runtime import runtime_of

    row = flow.owned_row(session, contract_id, owner_id)
    recipients = flow.recipients_of(session, row.id)
    r = next((x for x in recipients if x.id == recipient_id), None) if is_id(recipient_id, "rcp") else None
    if r is None or r.role != "signer":
        raise ContractNotFound("未找到该签署方", detail_en="No such signer on this contract")
    if row.status != "sent" or r.status != "waiting":
        raise ContractState(
            "只有已发送合同中尚未签署的签署方才有签署链接",
            detail_en="Only a waiting signer of a sent contract has a signing link",
            status_now=row.status,
        )
    token = flow._token_of(session, r)
    if token is None:  # pragma: no cover - every signer of a sent contract has a link
        raise ContractState("签署链接不存在", detail_en="No signing link", status_now=row.status)
    base = runtime_of(session).settings.public_base_url
    turn = r.routing_order == flow.active_order(recipients)
    return SigningUrlRead(contract_id=row.id, recipient_id=r.id, url=f"{base}/sign/{token}", turn_now=turn)
