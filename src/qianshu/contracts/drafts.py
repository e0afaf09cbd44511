"""Placing the fields of a draft after it was created (a template's document, or a draft kept for later).

A template's PDF exists only once the template is filled, so its fields are placed on the draft:
the sender opens the draft, drags the fields onto the rendered pages (or an integrator sends
coordinates), and the draft's fields are replaced as a whole. The same checks as at creation
apply (each signer exactly one signature or seal field, organisations seal, persons sign, every
field on a real page), and nothing is written unless every signer's fields pass. Only a draft can
be changed: once sent, the fields are what each signer was asked to fill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete
from sqlalchemy.orm import Session

from qianshu.contracts.errors import ContractState, RecipientInvalid
from qianshu.contracts.flow import (
    add_field,
    check_field,
    check_recipient_fields,
    contract_read,
    lock_owned,
    owned_row,
    recipients_of,
    record,
)
from qianshu.contracts.models import ContractDocument, ContractField
from qianshu.contracts.schemas import ContractRead, FieldIn, FieldsPlace
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.logging import get_logger

__all__ = ["place_fields", "place_fields_by_row"]

log = get_logger(__name__)


def place_fields(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    contract_id: str,
    data: FieldsPlace,
    context: RequestContext | None = None,
) -> ContractRead:
    """Replace the fields of every signer of a draft; all checked before anything is written."""
    placed: dict[str, Sequence[FieldIn]] = {}
    for item in data.recipients:
        if item.recipient_id in placed:
            raise RecipientInvalid("同一签署方重复出现", detail_en="The same recipient appears twice")
        placed[item.recipient_id] = item.fields
    return _replace(session, clock, owner_id, contract_id, placed, context)


def place_fields_by_row(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    contract_id: str,
    rows: Mapping[int, Sequence[FieldIn]],
    context: RequestContext | None = None,
) -> ContractRead:
    """Replace the fields by signer position (0-based, in routing order, as the draft's page lists them)."""
    owned_row(session, contract_id, owner_id)
    signers = [r for r in recipients_of(session, contract_id) if r.role == "signer"]
    placed = {r.id: rows.get(i, ()) for i, r in enumerate(signers)}
    return _replace(session, clock, owner_id, contract_id, placed, context)


def _replace(
    session: Session,
    clock: Clock,
    owner_id: str,
    contract_id: str,
    placed: Mapping[str, Sequence[FieldIn]],
    context: RequestContext | None,
) -> ContractRead:
    row = lock_owned(session, contract_id, owner_id)
    if row.status != "draft":
        raise ContractState(
            "合同已发送，签署区域不能再修改", detail_en="Only a draft's fields can be changed", status_now=row.status
        )
    doc = session.get(ContractDocument, row.document_id)
    if doc is None:  # the document outlives its contracts; a missing one is a broken database
        raise RuntimeError(f"contract {contract_id} has no document")
    signers = {r.id: r for r in recipients_of(session, contract_id) if r.role == "signer"}
    unknown = set(placed) - set(signers)
    if unknown:
        raise RecipientInvalid(
            "签署区域指向了不属于该合同的签署方", detail_en="A field belongs to no signer of this contract"
        )
    for rid, r in signers.items():
        fields = placed.get(rid, ())
        check_recipient_fields(role=r.role, kind=r.kind, fields=fields, org_id=r.org_id, seal_id=r.seal_id)
        for f in fields:
            check_field(doc, f)
    session.execute(delete(ContractField).where(ContractField.contract_id == contract_id))
    for rid, fields in placed.items():
        for f in fields:
            add_field(session, contract_id, rid, f)
    session.flush()
    counts: dict[str, object] = {"fields": sum(len(f) for f in placed.values()), "signers": len(signers)}
    record(session, clock, contract_id, actor=owner_id, action="contract.fields_placed", data=counts, context=context)
    log.info("contract_fields_placed", contract_id=contract_id)
    return contract_read(session, row)
