"""The contracts domain's public service: documents, templates, contracts, routing and signing.

Other domains import this module only (`from qianshu.contracts import service as contracts_service`).
The logic lives in modules split by concern: `documents` (uploads and templates, A7), `flow`
(drafts, sending, routing, revoke, decline, expiry) and `signers` (signing links, access and
intent codes, PAdES signing and completion; C3, C4, E1, E2).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.contracts.approvals import (
    approve_seal_use,
    get_seal_approval,
    list_seal_approvals,
    reject_seal_use,
)
from qianshu.contracts.bulk import (
    BULK_JOB,
    create_bulk_send,
    get_bulk_send_or_raise,
    list_bulk_sends,
    process_bulk_send,
)
from qianshu.contracts.documents import (
    create_template,
    document_from_template,
    document_pdf,
    get_document_or_raise,
    get_template_or_raise,
    list_documents,
    list_templates,
    template_body,
    template_preview_pdf,
    upload_document,
)
from qianshu.contracts.drafts import place_fields, place_fields_by_row
from qianshu.contracts.flow import (
    EXPIRE_JOB,
    create_contract,
    expire_contract,
    list_contracts,
    revoke_contract,
    send_contract,
)
from qianshu.contracts.flow import contract_read as _contract_read
from qianshu.contracts.flow import contract_row as _contract_row
from qianshu.contracts.flow import owned_row as _owned_row
from qianshu.contracts.flow import signing_path_for as _signing_path_for
from qianshu.contracts.flow import stream as _stream
from qianshu.contracts.handover import hand_over
from qianshu.contracts.integration import (
    RETENTION_JOB,
    cancellation_blockers,
    evidence_material,
    evidence_subject,
    on_account_cancelled,
    personal_data_for,
    privacy_delete_for_object,
    privacy_parties_of,
    privacy_retained_for,
    retention_sweep,
)
from qianshu.contracts.reminders import (
    REMIND_JOB,
    remind_now,
    reminders_of,
    run_reminders,
    set_reminder_policy,
)
from qianshu.contracts.schemas import ContractRead
from qianshu.contracts.signers import (
    confirm_face,
    decline,
    grant_access,
    link_pdf,
    request_access_code,
    request_intent_code,
    sign,
    view_link,
)
from qianshu.evidence import service as evidence_service
from qianshu.evidence.schemas import AuditEventRead
from qianshu.signing.schemas import ValidationReport
from qianshu.storage import service as storage_service
from qianshu.vault import service as vault_service

__all__ = [
    "BULK_JOB",
    "EXPIRE_JOB",
    "REMIND_JOB",
    "RETENTION_JOB",
    "approve_seal_use",
    "cancellation_blockers",
    "confirm_face",
    "contact_indexes",
    "contract_events",
    "contract_pdf",
    "create_bulk_send",
    "create_contract",
    "create_template",
    "decline",
    "document_from_template",
    "document_pdf",
    "evidence_material",
    "evidence_subject",
    "expire_contract",
    "get_bulk_send_or_raise",
    "get_contract_or_raise",
    "get_document_or_raise",
    "get_seal_approval",
    "get_template_or_raise",
    "grant_access",
    "hand_over",
    "is_sender",
    "link_pdf",
    "list_bulk_sends",
    "list_contracts",
    "list_documents",
    "list_seal_approvals",
    "list_templates",
    "on_account_cancelled",
    "original_pdf",
    "personal_data_for",
    "place_fields",
    "place_fields_by_row",
    "privacy_delete_for_object",
    "privacy_parties_of",
    "privacy_retained_for",
    "process_bulk_send",
    "reject_seal_use",
    "remind_now",
    "reminders_of",
    "request_access_code",
    "request_intent_code",
    "retention_sweep",
    "revoke_contract",
    "run_reminders",
    "send_contract",
    "set_reminder_policy",
    "sign",
    "signing_path_for",
    "template_body",
    "template_preview_pdf",
    "upload_document",
    "validate_contract",
    "view_link",
]


def get_contract_or_raise(*, session: Session, contract_id: str, owner_id: str) -> ContractRead:
    """Return the sender's contract or raise ContractNotFound."""
    return _contract_read(session, _owned_row(session, contract_id, owner_id))


def contract_pdf(*, session: Session, contract_id: str, owner_id: str) -> bytes:
    """Return the sender's contract PDF as it stands (the completed B-LTA PDF once completed)."""
    row = _owned_row(session, contract_id, owner_id)
    return storage_service.read_blob_bytes(session=session, blob_id=row.current_blob_id)


def validate_contract(*, session: Session, contract_id: str, owner_id: str) -> ValidationReport | None:
    """Validate every signature of the sender's contract as it stands (None before the first one).

    Offline, like any outside validator: this platform's root as the trust anchor and only the
    revocation data embedded in the PDF (complete once the contract reaches B-LTA).
    """
    from qianshu.core.runtime import runtime_of
    from qianshu.signing import service as signing_service

    row = _owned_row(session, contract_id, owner_id)
    if not row.signatures:
        return None
    data = storage_service.read_blob_bytes(session=session, blob_id=row.current_blob_id)
    roots = signing_service.trust_roots(runtime=runtime_of(session), session=session)
    return signing_service.validate_pdf(data, trust_roots=roots)


def contact_indexes(*, session: Session, user_id: str) -> list[str]:
    """Return the blind indexes of the user's phone and e-mail (to find contracts sent to them)."""
    from qianshu.accounts import service as accounts_service

    contact = accounts_service.get_contact(session=session, user_id=user_id)
    out = []
    if contact.phone:
        out.append(vault_service.blind_index(session=session, kind="phone", value=contact.phone))
    if contact.email:
        out.append(vault_service.blind_index(session=session, kind="email", value=contact.email))
    return out


def original_pdf(*, session: Session, contract_id: str, owner_id: str) -> bytes:
    """Return the sender's contract as it was before anyone signed."""
    row = _owned_row(session, contract_id, owner_id)
    return document_pdf(session=session, document_id=row.document_id, owner_id=owner_id)


def contract_events(*, session: Session, contract_id: str, owner_id: str) -> list[AuditEventRead]:
    """Return the sender's contract's audit trail (hash-chained) in order, for the timeline."""
    row = _owned_row(session, contract_id, owner_id)
    return evidence_service.list_events(session=session, stream=_stream(row.id))


def signing_path_for(*, session: Session, contract_id: str, user_id: str) -> str | None:
    """Return the signing page of the signed-in user for a contract sent to their phone or e-mail."""
    _contract_row(session, contract_id)
    bidxs = contact_indexes(session=session, user_id=user_id)
    return _signing_path_for(session, contract_id, bidxs) if bidxs else None


def is_sender(*, session: Session, contract_id: str, user_id: str) -> bool:
    """Tell whether `user_id` created the contract (a missing contract raises ContractNotFound)."""
    return _contract_row(session, contract_id).owner_id == user_id
