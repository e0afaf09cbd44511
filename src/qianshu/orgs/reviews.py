"""The operators' review queue of business licences and authorisation letters (promises A6, P10).

The queue shows masked data only. Opening a document image (and the unmasked legal
representative it must be checked against) needs a stated reason and is written to the
staff-access log and the organisation's audit trail; the decision is audited too.
"""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, NotFound
from qianshu.orgs import applications
from qianshu.orgs.models import Org, OrgDocument
from qianshu.orgs.records import DRAFT, audit, open_bytes, open_text
from qianshu.orgs.schemas import DocumentRead, RevealRead, ReviewDecision, ReviewItem
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_name

_REVEALED_FIELDS = {
    "licence": ["business_licence_image", "legal_rep_name", "legal_rep_id_number"],
    "authorisation_letter": ["authorisation_letter_image", "legal_rep_name", "legal_rep_id_number"],
}


def _open_field(session: Session, org: Org, column: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    try:
        return open_text(session, org_id=org.id, table=applications.ORG_TABLE, column=column, row_id=org.id, blob=blob)
    except vault_service.DataShredded:
        return None


def list_review_queue(*, session: Session, kind: str | None = None, limit: int = 200) -> list[ReviewItem]:
    """Return documents waiting for review, oldest first, with personal data masked."""
    query = (
        select(OrgDocument, Org)
        .join(Org, Org.id == OrgDocument.org_id)
        .where(OrgDocument.status == applications.PENDING, Org.status == DRAFT)
        .order_by(OrgDocument.uploaded_at, OrgDocument.id)
        .limit(limit)
    )
    if kind:
        query = query.where(OrgDocument.kind == kind)
    items = []
    for doc, org in session.execute(query).all():
        name = _open_field(session, org, "legal_rep_name", org.legal_rep_name_enc)
        items.append(
            ReviewItem(
                document_id=doc.id,
                org_id=org.id,
                org_name=org.name,
                uscc=org.uscc,
                kind=doc.kind,
                uploaded_at=doc.uploaded_at,
                legal_rep_name=mask_name(name) if name else None,
                status=doc.status,
            )
        )
    return items


def _document(session: Session, document_id: str, *, lock: bool = False) -> tuple[OrgDocument, Org]:
    query = select(OrgDocument).where(OrgDocument.id == document_id)
    if lock:
        query = query.with_for_update()
    doc = session.scalar(query)
    if doc is None:
        raise NotFound("材料不存在", detail_en="No such document")
    org_query = select(Org).where(Org.id == doc.org_id)
    if lock:
        org_query = org_query.with_for_update()
    org = session.scalar(org_query)
    assert org is not None
    return doc, org


def _log_staff_access(
    session: Session,
    clock: Clock,
    *,
    operator_id: str,
    org: Org,
    doc: OrgDocument,
    reason: str,
    note: str | None,
    context: RequestContext | None,
) -> None:
    from qianshu.privacy import service as privacy_service

    privacy_service.record_staff_access(
        session=session,
        clock=clock,
        staff_id=operator_id,
        subject_id=org.id,
        fields=_REVEALED_FIELDS.get(doc.kind, ["document_image"]),
        reason=reason,
        note=note,
        object_id=doc.id,
        context=context,
    )
    audit(
        session,
        clock,
        org_id=org.id,
        actor=operator_id,
        action="org.document_revealed",
        object_id=doc.id,
        data={"kind": doc.kind, "reason": reason},
        context=context,
    )


def reveal_document(
    *,
    session: Session,
    clock: Clock,
    operator_id: str,
    document_id: str,
    reason: str,
    note: str | None = None,
    context: RequestContext | None = None,
) -> RevealRead:
    """Open a document image and the legal representative's details for review; log the access."""
    doc, org = _document(session, document_id)
    image = open_bytes(
        session,
        org_id=org.id,
        table=applications.DOC_TABLE,
        column="image",
        row_id=doc.id,
        blob=doc.image_enc,
    )
    name = _open_field(session, org, "legal_rep_name", org.legal_rep_name_enc)
    id_number = _open_field(session, org, "legal_rep_id", org.legal_rep_id_enc)
    _log_staff_access(
        session, clock, operator_id=operator_id, org=org, doc=doc, reason=reason, note=note, context=context
    )
    return RevealRead(
        document_id=doc.id,
        content_type=doc.content_type,
        image_base64=base64.b64encode(image).decode("ascii"),
        legal_rep_name=name,
        legal_rep_id_number=id_number,
    )


def decide_document(
    *,
    session: Session,
    clock: Clock,
    operator_id: str,
    document_id: str,
    decision: ReviewDecision,
    context: RequestContext | None = None,
) -> DocumentRead:
    """Approve or reject a pending document and move its verification step along."""
    doc, org = _document(session, document_id, lock=True)
    if doc.status != applications.PENDING or org.status != DRAFT:
        raise Conflict("该材料已审核或已被替换", detail_en="The document was reviewed or replaced already")
    now = clock.now()
    approve = decision.decision == "approve"
    doc.status = applications.APPROVED if approve else applications.REJECTED
    doc.reviewed_by, doc.reviewed_at = operator_id, now
    doc.reject_reason = None if approve else decision.reason
    if doc.kind == applications.LICENCE:
        org.licence_status = doc.status
        action = "org.licence_approved" if approve else "org.licence_rejected"
    else:
        org.agent_status = "authorised" if approve else applications.REJECTED
        org.agent_authorised_at = now if approve else None
        action = "org.agent_authorised" if approve else "org.agent_letter_rejected"
    org.updated_at = now
    session.flush()
    data: dict[str, object] = {"document_id": doc.id}
    if approve and doc.kind == applications.LETTER:
        data.update(method="letter", agent=org.agent_user_id or "")
    if not approve:
        data["reason"] = decision.reason or "other"
    audit(
        session,
        clock,
        org_id=org.id,
        actor=operator_id,
        action=action,
        object_id=doc.id,
        data=data,
        context=context,
    )
    applications.complete_if_ready(session=session, clock=clock, org=org, actor=operator_id, context=context)
    return applications.document_read(doc)
