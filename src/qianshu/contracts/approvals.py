"""Seal-use approval (用印审批): an agent's use of a seal that needs approval waits for the keeper.

1. An organisation marks a seal "requires approval" (orgs). When its agent signs with that seal,
   every check of signing runs as usual and the fresh intent code (签署意愿) is verified and
   consumed; then, instead of using the organisation's key, a request is stored and the recipient
   waits as `awaiting_seal`. The request keeps what finishing needs (the agent, the filled
   values as a vault ciphertext, the cross-page choice), never the one-time code.
2. A member who decides on seal use (owner, admin or seal keeper, `orgs.may_approve_seal_use`)
   approves: the signature is applied with the organisation's key through the trust core exactly as
   the normal path does, under the contract's writer lock. Or rejects with a reason: the recipient
   is `waiting` again and the agent is told; they may sign again, which asks anew.
3. Each step is recorded on the contract's audit chain and on the organisation's chain.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.contracts import flow
from qianshu.contracts.errors import ContractState
from qianshu.contracts.models import Contract, ContractRecipient, ContractSealApproval
from qianshu.contracts.schemas import SealApprovalRead
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Forbidden, NotFound
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger

log = get_logger("qianshu.contracts")

AWAITING = "awaiting_seal"
PENDING, APPROVED, REJECTED, CLOSED = "pending", "approved", "rejected", "closed"
_TABLE = "contracts_seal_approval"


class SealApprovalNotFound(NotFound):
    """No such seal-use request (or not one this person decides on)."""

    slug = "seal-approval-not-found"
    title = "未找到该用印申请"
    title_en = "No such seal-use request"


class SealApprovalForbidden(Forbidden):
    """Only the organisation's owner, administrators and seal keepers decide on seal use."""

    slug = "seal-approval-forbidden"
    title = "只有企业所有者、管理员或印章管理员可以审批用印"
    title_en = "Only the organisation's owners, administrators and seal keepers approve seal use"


def needs_approval(session: Session, r: ContractRecipient) -> bool:
    """Tell whether this organisation signer's seal needs approval for each use."""
    from qianshu.orgs import service as orgs_service

    if r.kind != "org" or not r.org_id or not r.seal_id:
        return False
    return orgs_service.requires_approval(session=session, org_id=r.org_id, seal_id=r.seal_id)


def _read(session: Session, row: ContractSealApproval) -> SealApprovalRead:
    contract = flow.contract_row(session, row.contract_id)
    reason = None
    if row.reason_enc is not None:
        reason = flow.open_text(session, table=_TABLE, column="reason", row_id=row.id, blob=row.reason_enc)
    return SealApprovalRead(
        id=row.id,
        contract_id=row.contract_id,
        contract_title=flow.title_of(session, contract),
        contract_status=contract.status,
        recipient_id=row.recipient_id,
        org_id=row.org_id,
        seal_id=row.seal_id,
        agent_id=row.agent_id,
        status=row.status,  # type: ignore[arg-type]  # the column holds the Literal values
        cross_page=row.cross_page,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=reason,
    )


def request_approval(
    session: Session,
    clock: Clock,
    r: ContractRecipient,
    *,
    agent_id: str,
    values: dict[str, str],
    cross_page: bool,
    context: RequestContext | None,
) -> SealApprovalRead:
    """Store the agent's confirmed signing as a request and tell the seal keepers (caller holds the lock)."""
    from qianshu.orgs import service as orgs_service
    from qianshu.privacy import notices as privacy_notices

    assert r.org_id is not None and r.seal_id is not None
    approval_id = new_id("sap")
    row = ContractSealApproval(
        id=approval_id,
        contract_id=r.contract_id,
        recipient_id=r.id,
        org_id=r.org_id,
        seal_id=r.seal_id,
        agent_id=agent_id,
        status=PENDING,
        values_enc=flow.seal_text(
            session, table=_TABLE, column="values", row_id=approval_id, value=json.dumps(values, ensure_ascii=False)
        ),
        cross_page=cross_page,
        requested_at=clock.now(),
    )
    session.add(row)
    r.status, r.user_id = AWAITING, agent_id
    session.flush()
    data = {"approval_id": approval_id, "org_id": r.org_id, "seal_id": r.seal_id, "cross_page": cross_page}
    flow.record(
        session,
        clock,
        r.contract_id,
        actor=agent_id,
        action="contract.seal_approval_requested",
        object_id=r.id,
        data=data,
        context=context,
    )
    orgs_service.record_seal_use(
        session=session,
        clock=clock,
        org_id=r.org_id,
        actor=agent_id,
        action="org.seal_use_requested",
        object_id=approval_id,
        data={"contract_id": r.contract_id, "seal_id": r.seal_id, "cross_page": cross_page},
        context=context,
    )
    for keeper in orgs_service.seal_keepers(session=session, org_id=r.org_id):
        privacy_notices.notify_user(  # an unreachable (e.g. cancelled) keeper is skipped
            session=session,
            clock=clock,
            user_id=keeper,
            template="contract_seal_approval_request",
            params={"approval": approval_id},
        )
    log.info("contract_seal_approval_requested", contract_id=r.contract_id, approval_id=approval_id)
    return _read(session, row)


def _row(session: Session, approval_id: str, user_id: str, *, lock: bool = False) -> ContractSealApproval:
    from qianshu.orgs import service as orgs_service

    stmt = select(ContractSealApproval).where(ContractSealApproval.id == approval_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt.execution_options(populate_existing=True)) if is_id(approval_id, "sap") else None
    if row is None or orgs_service.member_role(session=session, org_id=row.org_id, user_id=user_id) is None:
        raise SealApprovalNotFound()
    if not orgs_service.may_approve_seal_use(session=session, org_id=row.org_id, user_id=user_id):
        raise SealApprovalForbidden()
    return row


def list_seal_approvals(*, session: Session, user_id: str, status: str | None = PENDING) -> list[SealApprovalRead]:
    """Return the seal-use requests of every organisation where the user decides on seal use."""
    from qianshu.orgs import service as orgs_service

    orgs = [
        o.id
        for o in orgs_service.list_my_orgs(session=session, user_id=user_id)
        if orgs_service.may_approve_seal_use(session=session, org_id=o.id, user_id=user_id)
    ]
    if not orgs:
        return []
    stmt = select(ContractSealApproval).where(ContractSealApproval.org_id.in_(orgs))
    if status is not None:
        stmt = stmt.where(ContractSealApproval.status == status)
    rows = session.scalars(stmt.order_by(ContractSealApproval.requested_at.desc(), ContractSealApproval.id).limit(200))
    return [_read(session, row) for row in rows]


def get_seal_approval(*, session: Session, approval_id: str, user_id: str) -> SealApprovalRead:
    """Return one seal-use request to a member who decides on it."""
    return _read(session, _row(session, approval_id, user_id))


def _pending(
    session: Session, approval_id: str, user_id: str
) -> tuple[ContractSealApproval, Contract, ContractRecipient]:
    """Lock the contract, then return the request, contract and recipient, still waiting for a decision."""
    row = _row(session, approval_id, user_id)
    if row.agent_id == user_id:  # separation of duties: nobody approves their own use of a seal
        raise SealApprovalForbidden("不能审批自己的用印申请", detail_en="Nobody decides on their own seal use")
    contract = flow.lock_contract(session, row.contract_id)
    row = _row(session, approval_id, user_id, lock=True)
    r = session.get(ContractRecipient, row.recipient_id, populate_existing=True)
    if row.status != PENDING or r is None or r.status != AWAITING:
        raise ContractState("该用印申请已处理", detail_en="The seal-use request was decided already")
    return row, contract, r


def _record_decision(
    session: Session,
    clock: Clock,
    row: ContractSealApproval,
    r: ContractRecipient,
    *,
    actor: str,
    outcome: str,
    context: RequestContext | None,
) -> None:
    """Write a keeper's decision ("approved" or "rejected") to the contract's trail and the seal's use record."""
    from qianshu.orgs import service as orgs_service

    flow.record(
        session,
        clock,
        row.contract_id,
        actor=actor,
        action=f"contract.seal_{outcome}",
        object_id=r.id,
        data={"approval_id": row.id, "org_id": row.org_id, "seal_id": row.seal_id},
        context=context,
    )
    orgs_service.record_seal_use(
        session=session,
        clock=clock,
        org_id=row.org_id,
        actor=actor,
        action=f"org.seal_use_{outcome}",
        object_id=row.id,
        data={"contract_id": row.contract_id, "seal_id": row.seal_id, "agent": row.agent_id},
        context=context,
    )


def approve_seal_use(
    *, session: Session, clock: Clock, approval_id: str, user_id: str, context: RequestContext | None = None
) -> SealApprovalRead:
    """Approve a seal-use request: apply the agent's signature with the organisation's key.

    When the contract ended meanwhile (revoked, declined, expired) the request is closed instead.
    """
    from qianshu.contracts import signers
    from qianshu.pki import service as pki_service

    row, contract, r = _pending(session, approval_id, user_id)
    if contract.status != "sent" or flow.is_overdue(contract, clock.now()):
        row.status, row.decided_by, row.decided_at = CLOSED, user_id, clock.now()
        session.flush()
        return _read(session, row)
    values: dict[str, str] = json.loads(
        flow.open_text(session, table=_TABLE, column="values", row_id=row.id, blob=row.values_enc)
    )
    fields = [f for f in flow.fields_of(session, contract.id) if f.recipient_id == r.id]
    appearance = signers.org_seal_appearance(session, r, row.agent_id, cross_page=row.cross_page)
    cert = pki_service.require_signing_certificate(session=session, clock=clock, subject_id=row.org_id)
    row.status, row.decided_by, row.decided_at = APPROVED, user_id, clock.now()
    session.flush()
    _record_decision(session, clock, row, r, actor=user_id, outcome="approved", context=context)
    signers.apply_signature(session, clock, contract, r, fields, values, appearance, cert, row.agent_id, context)
    log.info("contract_seal_approved", contract_id=contract.id, approval_id=row.id)
    return _read(session, row)


def reject_seal_use(
    *,
    session: Session,
    clock: Clock,
    approval_id: str,
    user_id: str,
    reason: str,
    context: RequestContext | None = None,
) -> SealApprovalRead:
    """Reject a seal-use request with a reason; the agent is told and may sign again."""
    row, _contract, r = _pending(session, approval_id, user_id)
    reason = " ".join(reason.split())[:500]
    row.status, row.decided_by, row.decided_at = REJECTED, user_id, clock.now()
    row.reason_enc = flow.seal_text(session, table=_TABLE, column="reason", row_id=row.id, value=reason)
    r.status = "waiting"
    session.flush()
    _record_decision(session, clock, row, r, actor=user_id, outcome="rejected", context=context)
    flow.notify_recipient(session, clock, r, "contract_seal_rejected", {"contract": row.contract_id})
    log.info("contract_seal_rejected", contract_id=row.contract_id, approval_id=row.id)
    return _read(session, row)
