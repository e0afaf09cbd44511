"""Contracts as seen by the evidence and privacy domains (E1–E4, P3, P4, P7, P8, P13).

Evidence (`evidence.subjects`, subject kind "contract"): a completed contract is the subject of
evidence reports and bundles. Its parties are the sender and the signers' accounts; its material
is the original PDF, the signed B-LTA PDF, every RFC 3161 token inside it (each signature's
time-stamp and the document time-stamps), the contract's hash-chained audit stream, the signers'
certificates and the log entry written at completion.

Privacy: the hooks the privacy domain looks up in every domain's service by name —
`cancellation_blockers` (a contract in progress stops a cancellation, P7), `personal_data_for`
(the privacy centre and the data copy, P3/P4), `privacy_parties_of` and `privacy_delete_for_object`
(contract-linked deletion needs every party, P8), `privacy_retained_for` and
`on_account_cancelled` (signing records kept under the person's retention key, P7) — plus the
contracts' own retention sweep: five years (`signing_record_retention_years`) after a contract
ends, the personal data of its recipients (contacts, filled values, reasons) is anonymised (P13).
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import cms
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qianshu.contracts import flow, integrator
from qianshu.contracts.models import Contract, ContractField, ContractRecipient
from qianshu.core.clock import Clock, as_utc
from qianshu.core.errors import QianshuError
from qianshu.core.ids import is_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.jobs.schedules import daily_slot, schedule_once

log = get_logger("qianshu.contracts")

__all__ = [
    "OBJECT_TYPE",
    "RETENTION_JOB",
    "cancellation_blockers",
    "ensure_schedules",
    "evidence_material",
    "evidence_subject",
    "on_account_cancelled",
    "pdf_timestamp_tokens",
    "personal_data_for",
    "privacy_delete_for_object",
    "privacy_parties_of",
    "privacy_retained_for",
    "retention_sweep",
]

OBJECT_TYPE = "contract"
RETENTION_JOB = "contracts.retention_sweep"
RETENTION_HOUR_UTC = 19  # 03:00 in Beijing, an hour before the privacy sweep
_RCP_TABLE, _FIELD_TABLE = "contracts_recipient", "contracts_field"
_STATUS_LABELS = {
    "draft": "草稿",
    "sent": "签署中",
    "completed": "已完成",
    "declined": "已拒签",
    "revoked": "已撤回",
    "expired": "已过期",
    "signed": "已签署",
    "waiting": "待签署",
}


# --- who is who ---------------------------------------------------------------------------------


def _my_bidxs(session: Session, user_id: str) -> list[str]:
    from qianshu.contracts import service as contracts_service

    try:
        return contracts_service.contact_indexes(session=session, user_id=user_id)
    except QianshuError:  # an unknown account, or one whose data key is destroyed (cancelled)
        return []


def _erased_bidx(recipient_id: str) -> str:
    return hashlib.sha256(f"contracts.erased.v1:{recipient_id}".encode()).hexdigest()


def _recipient_account(session: Session, r: ContractRecipient) -> str | None:
    """Return the account of a recipient: the one that signed, or the one registered with the contact."""
    if r.user_id is not None:
        return r.user_id
    from qianshu.accounts import service as accounts_service

    if r.contact_bidx == _erased_bidx(r.id):  # anonymised: the contact is only its masked form
        return None
    contact = flow.contact_of(session, r)
    user = accounts_service.find_user(
        session=session,
        phone=contact if r.channel == "phone" else None,
        email=contact if r.channel == "email" else None,
    )
    return user.id if user is not None else None


def _parties(session: Session, row: Contract) -> list[str]:
    """Return the sender and the signers' accounts (the data subjects of the contract)."""
    found = [row.owner_id]
    for r in flow.recipients_of(session, row.id):
        if r.role == "signer":
            account = _recipient_account(session, r)
            if account is not None:
                found.append(account)
    return list(dict.fromkeys(found))


def _is_mine(r: ContractRecipient, user_id: str, bidxs: list[str]) -> bool:
    return r.user_id == user_id or r.contact_bidx in bidxs


def _contracts_of(session: Session, user_id: str, bidxs: list[str]) -> list[Contract]:
    received = select(ContractRecipient.contract_id).where(
        or_(ContractRecipient.user_id == user_id, ContractRecipient.contact_bidx.in_(bidxs or ["-"]))
    )
    stmt = select(Contract).where((Contract.owner_id == user_id) | Contract.id.in_(received))
    return list(session.scalars(stmt.order_by(Contract.created_at.desc())))


# --- evidence (evidence.subjects) -------------------------------------------------------------


def evidence_subject(*, session: Session, subject_id: str) -> Any:
    """Return a completed contract as an evidence subject (its parties may ask for reports), or None."""
    from qianshu.evidence.subjects import SubjectSummary

    row = session.get(Contract, subject_id) if is_id(subject_id, "ctr") else None
    if row is None or row.status != "completed":
        return None
    return SubjectSummary(
        kind=OBJECT_TYPE,
        id=row.id,
        title=flow.title_of(session, row),
        parties=tuple(_parties(session, row)),
        created_at=row.created_at,
    )


def pdf_timestamp_tokens(pdf: bytes) -> list[tuple[str, bytes]]:
    """Return the RFC 3161 tokens inside a signed PDF: each signature's time-stamp, then document ones.

    Names are `<field>` for a signature time-stamp (CMS unsigned attribute
    id-aa-signatureTimeStampToken, RFC 3161 Appendix A) and `<field>` for a /DocTimeStamp, whose
    /Contents is the token itself (ISO 32000-2 §12.8.5).
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    out: list[tuple[str, bytes]] = []
    for emb in reader.embedded_regular_signatures:
        attrs = emb.signer_info["unsigned_attrs"]
        if attrs.native is None:
            continue
        for attr in attrs:
            if attr["type"].native == "signature_time_stamp_token":
                for token in attr["values"]:
                    out.append((f"signature-{emb.field_name}", token.dump()))
    for emb in reader.embedded_timestamp_signatures:
        raw = bytes(emb.sig_object["/Contents"])
        out.append((f"document-{emb.field_name}", cms.ContentInfo.load(raw, strict=False).dump()))
    return out


def _certificate_ids(session: Session, contract_id: str) -> list[str]:
    from qianshu.evidence import service as evidence_service

    ids = []
    for event in evidence_service.list_events(session=session, stream=flow.stream(contract_id)):
        if event.action == "contract.signed":
            cert_id = (event.data or {}).get("certificate_id")
            if isinstance(cert_id, str):
                ids.append(cert_id)
    return list(dict.fromkeys(ids))


def _beijing(value: datetime | None) -> str:
    from qianshu.evidence import documents

    return documents.beijing(value)


def evidence_material(*, session: Session, subject_id: str) -> Any:
    """Return what a report and a bundle need about a completed contract (see `evidence.subjects`)."""
    from qianshu.contracts.errors import ContractNotFound, ContractState
    from qianshu.contracts.models import ContractDocument
    from qianshu.evidence.subjects import SubjectFile, SubjectMaterial, SubjectTimestamp
    from qianshu.evidence.verifier.tokens import read_token
    from qianshu.storage import service as storage_service

    summary = evidence_subject(session=session, subject_id=subject_id)
    row = session.get(Contract, subject_id) if is_id(subject_id, "ctr") else None
    if row is None:
        raise ContractNotFound()
    if summary is None or row.signed_blob_id is None or row.log_entry_id is None:
        raise ContractState(
            "合同尚未完成，不能出证", detail_en="Only completed contracts have evidence", status_now=row.status
        )
    doc = session.get(ContractDocument, row.document_id)
    assert doc is not None
    original = storage_service.read_blob_bytes(session=session, blob_id=doc.blob_id)
    signed = storage_service.read_blob_bytes(session=session, blob_id=row.signed_blob_id)
    stamps = []
    for name, token in pdf_timestamp_tokens(signed):
        token_facts = read_token(token)
        label = "签名时间戳" if name.startswith("signature-") else "文档时间戳"
        stamps.append(
            SubjectTimestamp(name=name, token=token, imprint_sha256=token_facts.imprint.hex(), covers=None, label=label)
        )
    facts: list[tuple[str, str]] = [
        ("对象类型", "电子合同"),
        ("合同编号", row.id),
        ("合同名称", summary.title),
        ("状态", _STATUS_LABELS.get(row.status, row.status)),
        ("发起时间", _beijing(row.created_at)),
        ("发送时间", _beijing(row.sent_at)),
        ("完成时间", _beijing(row.finished_at)),
        ("签名数", str(row.signatures)),
        ("原文 SHA-256", row.original_sha256),
        ("签署完成文件 SHA-256", row.signed_sha256 or "—"),
    ]
    for index, r in enumerate(flow.recipients_of(session, row.id), start=1):
        who = "企业签署方" if r.kind == "org" else "个人签署方"
        if r.role == "cc":
            who = "抄送人"
        masked = flow.recipient_read(session, r).contact_masked
        facts.append((f"{who} {index}", f"{masked}，{_STATUS_LABELS.get(r.status, r.status)} {_beijing(r.signed_at)}"))
    return SubjectMaterial(
        summary=summary,
        facts=facts,
        files=[
            SubjectFile(path="subject/original.pdf", data=original, role="original", label="合同原文"),
            SubjectFile(path="subject/signed.pdf", data=signed, role="signed_pdf", label="签署完成的合同"),
        ],
        timestamps=stamps,
        log_entries=[("contract", row.log_entry_id)],
        audit_streams=[flow.stream(row.id)],
        certificate_ids=_certificate_ids(session, row.id),
    )


# --- privacy: cancellation, centre, contract-linked deletion -----------------------------------


def cancellation_blockers(*, session: Session, user_id: str) -> list[dict[str, Any]]:
    """Stop a cancellation while the person sent a contract in progress or still has to sign one."""
    bidxs = _my_bidxs(session, user_id)
    sending = 0
    signing = 0
    for row in _contracts_of(session, user_id, bidxs):
        if row.status != "sent":
            continue
        if row.owner_id == user_id:
            sending += 1
            continue
        if any(
            r.role == "signer" and r.status == "waiting" and _is_mine(r, user_id, bidxs)
            for r in flow.recipients_of(session, row.id)
        ):
            signing += 1
    out: list[dict[str, Any]] = []
    if sending:
        out.append(
            {
                "code": "contracts_sending",
                "message": f"您发起的 {sending} 份合同仍在签署中，请等待完成或先撤回",
                "message_en": f"{sending} contract(s) you sent are still being signed; wait or revoke them first",
                "count": sending,
            }
        )
    if signing:
        out.append(
            {
                "code": "contracts_to_sign",
                "message": f"您还有 {signing} 份合同未签署，请先签署或拒签",
                "message_en": f"{signing} contract(s) still wait for your signature; sign or decline them first",
                "count": signing,
            }
        )
    return out


def _counterparties(session: Session, row: Contract, user_id: str, bidxs: list[str]) -> str:
    names = []
    for r in flow.recipients_of(session, row.id):
        if _is_mine(r, user_id, bidxs):
            continue
        names.append(flow.recipient_read(session, r).contact_masked)
    return "、".join(names)


def personal_data_for(*, session: Session, user_id: str) -> dict[str, Any] | None:
    """Return the privacy-centre section: the person's contracts, titles in clear, others masked."""
    bidxs = _my_bidxs(session, user_id)
    records = []
    for row in _contracts_of(session, user_id, bidxs):
        mine = [r for r in flow.recipients_of(session, row.id) if _is_mine(r, user_id, bidxs)]
        roles = (["发起方"] if row.owner_id == user_id else []) + [
            "签署方" if r.role == "signer" else "抄送人" for r in mine
        ]
        records.append(
            {
                "contract_id": row.id,
                "title": flow.title_of(session, row),
                "role": "、".join(dict.fromkeys(roles)),
                "status": _STATUS_LABELS.get(row.status, row.status),
                "counterparties": _counterparties(session, row, user_id, bidxs),
                "created_at": as_utc(row.created_at).isoformat(),
                "finished_at": as_utc(row.finished_at).isoformat() if row.finished_at else None,
                "signed_at": next((as_utc(r.signed_at).isoformat() for r in mine if r.signed_at), None),
            }
        )
    if not records:
        return None
    years = runtime_of(session).settings.signing_record_retention_years
    return {
        "records": records,
        "record_masks": {"title": "name"},
        "note": f"签署记录依《电子签名法》保存至合同结束后 {years} 年，其他当事方的联系方式仅部分显示。",
        "note_en": f"Signing records are kept {years} years after a contract ends; other parties are masked.",
    }


def privacy_parties_of(*, session: Session, object_type: str, object_id: str) -> list[str] | None:
    """Return the parties of a contract (contract-linked deletion asks each of them, P8)."""
    if object_type != OBJECT_TYPE:
        return None
    row = session.get(Contract, object_id) if is_id(object_id, "ctr") else None
    return None if row is None else _parties(session, row)


def _erase_recipient(
    session: Session, r: ContractRecipient, fields: list[ContractField], *, unlink: bool = True
) -> None:
    """Replace a recipient's contact by its masked form and drop what they filled or wrote.

    `unlink` also forgets which account signed (the contract no longer shows among theirs).
    """
    masked = flow.recipient_read(session, r).contact_masked
    r.contact_enc = flow.seal_text(session, table=_RCP_TABLE, column="contact", row_id=r.id, value=masked)
    r.contact_bidx = _erased_bidx(r.id)
    r.token_enc = r.reason_enc = r.access_hash = None
    if unlink:
        r.user_id = None
    for f in fields:
        if f.recipient_id == r.id:
            f.value_enc = None


def privacy_delete_for_object(
    *, session: Session, clock: Clock, object_type: str, object_id: str, requester: str
) -> None:
    """Delete the requester's personal data tied to a contract once every party agreed (P8).

    The signed PDF, its log entry and the audit chain stay: they are the other parties' evidence.
    """
    if object_type != OBJECT_TYPE:
        return
    row = flow.contract_row(session, object_id)
    bidxs = _my_bidxs(session, requester)
    fields = flow.fields_of(session, row.id)
    erased = 0
    for r in flow.recipients_of(session, row.id):
        if _is_mine(r, requester, bidxs):
            _erase_recipient(session, r, fields)
            erased += 1
    if row.owner_id == requester:
        row.reason_enc = None
    session.flush()
    flow.record(
        session, clock, row.id, actor="system", action="contract.party_data_deleted", data={"recipients": erased}
    )


# --- privacy: retention ----------------------------------------------------------------------


def _kept_until(session: Session, row: Contract) -> datetime:
    years = runtime_of(session).settings.signing_record_retention_years
    end = as_utc(row.finished_at or row.created_at)
    return end + timedelta(days=round(365.25 * years))


def privacy_retained_for(*, session: Session, clock: Clock, user_id: str) -> list[Any]:
    """At cancellation: the person's contact in each contract, kept until five years after it ended."""
    from qianshu.privacy.retention import RetainedItem

    bidxs = _my_bidxs(session, user_id)
    items = []
    for row in _contracts_of(session, user_id, bidxs):
        for r in flow.recipients_of(session, row.id):
            if _is_mine(r, user_id, bidxs):
                items.append(
                    RetainedItem(
                        source="contracts.recipient_contact",
                        value=f"{row.id} {r.id} {flow.contact_of(session, r)}",
                        retain_until=_kept_until(session, row),
                    )
                )
    return items


def on_account_cancelled(*, session: Session, clock: Clock, user_id: str) -> None:
    """After cancellation, the platform's copy of the person's contact in contracts is masked.

    The clear value was sealed under the person's retention key just before (`privacy_retained_for`);
    the blind index is replaced, so whoever gets the number next does not see these contracts.
    """
    bidxs = _my_bidxs(session, user_id)
    for row in _contracts_of(session, user_id, bidxs):
        fields = flow.fields_of(session, row.id)
        for r in flow.recipients_of(session, row.id):
            if _is_mine(r, user_id, bidxs):
                _erase_recipient(session, r, fields, unlink=False)  # still a party of the evidence
    session.flush()


def retention_sweep(*, session: Session, clock: Clock) -> int:
    """Anonymise contracts that ended more than the retention period ago; return how many (P13).

    The same daily run forgets the idempotency records older than 24 hours.
    """
    years = runtime_of(session).settings.signing_record_retention_years
    cutoff = clock.now() - timedelta(days=round(365.25 * years))
    rows = list(
        session.scalars(
            select(Contract).where(
                Contract.status.in_(flow.FINISHED),
                Contract.finished_at.is_not(None),
                Contract.finished_at <= cutoff,
                Contract.anonymised_at.is_(None),
            )
        )
    )
    for row in rows:
        fields = flow.fields_of(session, row.id)
        for r in flow.recipients_of(session, row.id):
            _erase_recipient(session, r, fields)
        row.reason_enc = None
        row.anonymised_at = clock.now()
        session.flush()
        flow.record(session, clock, row.id, actor="system", action="contract.retention_anonymised")
    forgotten = integrator.purge_idempotency_records(session=session, clock=clock)
    if rows or forgotten:
        log.info("contracts_retention_swept", contracts=len(rows), idempotency_records=forgotten)
    return len(rows)


def next_sweep_time(now: datetime) -> datetime:
    """Return the next daily sweep slot after `now`."""
    return daily_slot(now, hour=RETENTION_HOUR_UTC)


def schedule_sweep(*, session: Session, clock: Clock) -> str:
    """Queue the next daily contracts retention sweep (once per day)."""
    run_at = next_sweep_time(clock.now())
    return schedule_once(
        session=session,
        clock=clock,
        kind=RETENTION_JOB,
        payload={},
        run_at=run_at,
        key=f"{RETENTION_JOB}:{run_at.date().isoformat()}",
    )


def ensure_schedules(*, runtime: Runtime) -> None:
    """Startup hook: make sure the daily retention sweep is queued."""
    with runtime.transaction() as session:
        schedule_sweep(session=session, clock=runtime.clock)
