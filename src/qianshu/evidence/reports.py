"""Evidence reports (出证): requested by a party or for an authority, decided by an operator (PROMISES E3).

- A party to the subject (`subjects.get_subject(...).parties`) asks for a report; or an operator
  files a request received from an arbitration commission, a court or a judicial appraisal body,
  with the body's name, its reference number and the request document (stored encrypted).
- An operator approves (optionally with a reason) or rejects (with a reason). Approval queues the
  issuing job; `approve_and_issue` also tries at once.
- Issuing builds a Chinese PDF listing the object, the parties (ID numbers masked), each signature
  with its certificate and times, the audit timeline, every hash, the time-stamp tokens and the log
  inclusion proofs with their checkpoint; the platform signs it (PAdES B-LTA); the report's
  SHA-256 is appended to the transparency log as `{type: evidence.report, id, subject, sha256,
  audit_head}`.
- Every hand-over of an authority's report (PDF or bundle) is a delivery: recorded here, in the
  privacy sharing register for each data subject (PROMISES P9), and in the subject's audit stream.

Every change writes its audit event to the subject's stream in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, Forbidden, InvalidInput, NotFound, QianshuError
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.evidence import documents, platform_seal, subjects, translog
from qianshu.evidence import service as evidence_service
from qianshu.evidence.evidence_schemas import AuthorityKind, DeliveryRead, ReportRead
from qianshu.evidence.models import EvidenceDelivery, EvidenceReport
from qianshu.evidence.verifier.tokens import read_token

__all__ = [
    "AUTHORITY_LABELS",
    "ISSUE_JOB",
    "ReportNotIssued",
    "approve_and_issue",
    "approve_report",
    "download_bundle",
    "download_report",
    "get_report_or_raise",
    "issue_now",
    "issue_report",
    "list_deliveries",
    "list_reports",
    "record_delivery",
    "reject_report",
    "report_bytes",
    "request_document",
    "request_report",
    "request_report_for_authority",
    "subject_stream",
]

log = get_logger("qianshu.evidence")

ISSUE_JOB = "evidence.report.issue"
REPORT_FIELD = "QianshuReportSeal"
PLATFORM_SUBJECT = "sys_platform"
AUTHORITY_LABELS = {
    AuthorityKind.ARBITRATION: ("仲裁委员会", "Arbitration commission"),
    AuthorityKind.COURT: ("人民法院", "People's court"),
    AuthorityKind.APPRAISAL: ("司法鉴定机构", "Judicial appraisal body"),
}
# What a delivery hands over, by field name, for the privacy sharing register (never values).
DELIVERED_FIELDS = {
    "report_pdf": ["evidence_report", "name", "id_number_masked", "file_name", "file_hash", "audit_trail"],
    "bundle": [
        "evidence_bundle",
        "original_file",
        "signed_document",
        "certificates",
        "file_hash",
        "audit_trail",
    ],
}
_PREFIX = "rpt"
_TABLE = "evidence_report"
_OPEN = ("requested", "approved")
_TEXT_MAX = 1000
_REFERENCE_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


class ReportNotIssued(Conflict):
    """The report has not been issued (still waiting, or rejected)."""

    slug = "evidence-report-not-issued"
    title = "证据报告尚未出具"
    title_en = "The evidence report has not been issued"


# --- helpers ----------------------------------------------------------------------------------


def subject_stream(kind: str, subject_id: str) -> str:
    """Return the audit stream of a report subject (`preservation:prs_…`, `contract:ctr_…`)."""
    return f"{kind}:{subject_id}"


def _clean(value: str | None, what: str, what_en: str, limit: int = _TEXT_MAX) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if len(text) > limit or any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\n\t" for ch in text
    ):
        raise InvalidInput(
            f"{what}过长或含有控制字符", detail_en=f"The {what_en} is too long or has control characters"
        )
    return text


def _seal(session: Session, row_id: str, column: str, value: str | None) -> bytes | None:
    if value is None:
        return None
    from qianshu.vault import service as vault_service

    return vault_service.encrypt_field(
        session=session, subject_id=PLATFORM_SUBJECT, table=_TABLE, column=column, row_id=row_id, value=value
    )


def _open(session: Session, row_id: str, column: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    from qianshu.vault import service as vault_service

    return vault_service.decrypt_field(
        session=session, subject_id=PLATFORM_SUBJECT, table=_TABLE, column=column, row_id=row_id, blob=blob
    )


def _read(session: Session, row: EvidenceReport) -> ReportRead:
    return ReportRead(
        id=row.id,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        channel=row.channel,  # type: ignore[arg-type]  # party | authority, checked on write
        requested_by=row.requested_by,
        authority_kind=AuthorityKind(row.authority_kind) if row.authority_kind else None,
        authority_name=row.authority_name,
        reference_no=row.reference_no,
        has_request_document=row.request_document_blob_id is not None,
        note=_open(session, row.id, "note", row.note_enc),
        status=row.status,  # type: ignore[arg-type]  # requested | approved | rejected | issued
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=_open(session, row.id, "decision_reason", row.decision_reason_enc),
        report_sha256=row.report_sha256,
        log_entry_id=row.log_entry_id,
        created_at=row.created_at,
        issued_at=row.issued_at,
    )


def _row_or_raise(session: Session, report_id: str) -> EvidenceReport:
    row = session.get(EvidenceReport, report_id) if is_id(report_id, _PREFIX) else None
    if row is None:
        raise NotFound("未找到该出证申请", detail_en="No such evidence report")
    return row


def _may_see(session: Session, row: EvidenceReport, viewer_id: str, operator: bool) -> bool:
    if operator or row.requested_by == viewer_id:
        return True
    subject = subjects.get_subject(session=session, kind=row.subject_kind, subject_id=row.subject_id)
    return subject is not None and viewer_id in subject.parties


def _visible_row(session: Session, report_id: str, viewer_id: str, operator: bool) -> EvidenceReport:
    row = _row_or_raise(session, report_id)
    if not _may_see(session, row, viewer_id, operator):
        raise NotFound("未找到该出证申请", detail_en="No such evidence report")
    return row


def _event(
    session: Session,
    clock: Clock,
    row: EvidenceReport,
    *,
    actor: str,
    action: str,
    data: dict[str, object] | None = None,
    context: RequestContext | None = None,
) -> None:
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=subject_stream(row.subject_kind, row.subject_id),
        actor=actor,
        action=action,
        object_id=row.id,
        data={"report_id": row.id, "channel": row.channel, **(data or {})},
        context=context,
    )


def _check_no_open_request(session: Session, *, requested_by: str, kind: str, subject_id: str) -> None:
    existing = session.scalar(
        select(EvidenceReport.id).where(
            EvidenceReport.requested_by == requested_by,
            EvidenceReport.subject_kind == kind,
            EvidenceReport.subject_id == subject_id,
            EvidenceReport.channel == "party",
            EvidenceReport.status.in_(_OPEN),
        )
    )
    if existing is not None:
        raise Conflict("您已有一份待处理的出证申请", detail_en=f"Request {existing} is still open")


# --- requesting -------------------------------------------------------------------------------


def request_report(
    *,
    session: Session,
    clock: Clock,
    requester_id: str,
    subject_kind: str,
    subject_id: str,
    note: str | None = None,
    context: RequestContext | None = None,
) -> ReportRead:
    """File a party's request for a report on a subject it is party to."""
    subject = subjects.get_subject(session=session, kind=subject_kind, subject_id=subject_id)
    if subject is None or requester_id not in subject.parties:
        raise NotFound("未找到出证对象，或您不是其当事人", detail_en="No such subject among yours")
    _check_no_open_request(session, requested_by=requester_id, kind=subject_kind, subject_id=subject_id)
    row = EvidenceReport(
        id=new_id(_PREFIX),
        subject_kind=subject_kind,
        subject_id=subject_id,
        channel="party",
        requested_by=requester_id,
        status="requested",
        created_at=clock.now(),
    )
    row.note_enc = _seal(session, row.id, "note", _clean(note, "说明", "note"))
    session.add(row)
    session.flush()
    _event(session, clock, row, actor=requester_id, action="evidence.report_requested", context=context)
    log.info("evidence_report_requested", report_id=row.id, channel="party")
    return _read(session, row)


def request_report_for_authority(
    *,
    session: Session,
    clock: Clock,
    operator_id: str,
    subject_kind: str,
    subject_id: str,
    authority_kind: AuthorityKind | str,
    authority_name: str,
    reference_no: str,
    document: BinaryIO | bytes,
    document_media_type: str,
    note: str | None = None,
    context: RequestContext | None = None,
) -> ReportRead:
    """File, as an operator, a documented request from an arbitration commission, court or appraisal body."""
    from qianshu.storage import service as storage_service

    try:
        kind = AuthorityKind(authority_kind)
    except ValueError:
        raise InvalidInput("请求机构类型无效", detail_en="Unknown authority kind") from None
    name = _clean(authority_name, "机构名称", "authority name", limit=120)
    reference = _clean(reference_no, "文书编号", "reference number", limit=100)
    if name is None or reference is None or not _REFERENCE_RE.fullmatch(reference):
        raise InvalidInput("请填写请求机构名称与文书编号", detail_en="The authority's name and reference are required")
    subjects.get_subject_or_raise(session=session, kind=subject_kind, subject_id=subject_id)
    blob = storage_service.store_blob(
        session=session,
        clock=clock,
        owner_id=PLATFORM_SUBJECT,
        stream=document,
        media_type=document_media_type,
    )
    if blob.size == 0:
        raise InvalidInput("请上传请求文书（如调取证据通知书）", detail_en="Upload the request document")
    row = EvidenceReport(
        id=new_id(_PREFIX),
        subject_kind=subject_kind,
        subject_id=subject_id,
        channel="authority",
        requested_by=operator_id,
        authority_kind=kind.value,
        authority_name=name,
        reference_no=reference,
        request_document_blob_id=blob.id,
        status="requested",
        created_at=clock.now(),
    )
    row.note_enc = _seal(session, row.id, "note", _clean(note, "说明", "note"))
    session.add(row)
    session.flush()
    _event(
        session,
        clock,
        row,
        actor=operator_id,
        action="evidence.report_requested",
        data={"authority_kind": kind.value, "request_document_sha256": blob.sha256},
        context=context,
    )
    log.info("evidence_report_requested", report_id=row.id, channel="authority")
    return _read(session, row)


# --- deciding ---------------------------------------------------------------------------------


def _decide(
    session: Session,
    clock: Clock,
    *,
    report_id: str,
    operator_id: str,
    approve: bool,
    reason: str | None,
    context: RequestContext | None,
) -> EvidenceReport:
    evidence_service.lock_stream(session=session, stream=f"report:{report_id}")  # one decision at a time
    row = _row_or_raise(session, report_id)
    if row.status != "requested":
        raise Conflict("该申请已处理", detail_en=f"The request is already {row.status}")
    text = _clean(reason, "理由", "reason")
    if not approve and text is None:
        raise InvalidInput("驳回须说明理由", detail_en="A rejection needs a reason")
    row.status = "approved" if approve else "rejected"
    row.decided_by, row.decided_at = operator_id, clock.now()
    row.decision_reason_enc = _seal(session, row.id, "decision_reason", text)
    session.flush()
    _event(
        session,
        clock,
        row,
        actor=operator_id,
        action="evidence.report_approved" if approve else "evidence.report_rejected",
        context=context,
    )
    return row


def approve_report(
    *,
    session: Session,
    clock: Clock,
    report_id: str,
    operator_id: str,
    reason: str | None = None,
    context: RequestContext | None = None,
) -> ReportRead:
    """Approve a request and queue the report's issuing."""
    from qianshu.jobs import service as jobs_service

    row = _decide(
        session,
        clock,
        report_id=report_id,
        operator_id=operator_id,
        approve=True,
        reason=reason,
        context=context,
    )
    jobs_service.enqueue(session=session, clock=clock, kind=ISSUE_JOB, payload={"report_id": row.id})
    log.info("evidence_report_approved", report_id=row.id)
    return _read(session, row)


def reject_report(
    *,
    session: Session,
    clock: Clock,
    report_id: str,
    operator_id: str,
    reason: str,
    context: RequestContext | None = None,
) -> ReportRead:
    """Reject a request with a reason (shown to the requester)."""
    row = _decide(
        session,
        clock,
        report_id=report_id,
        operator_id=operator_id,
        approve=False,
        reason=reason,
        context=context,
    )
    log.info("evidence_report_rejected", report_id=row.id)
    return _read(session, row)


# --- issuing ----------------------------------------------------------------------------------


def _party_rows(session: Session, parties: tuple[str, ...], kind: str) -> list[tuple[str, str, str, str]]:
    from qianshu.identity import service as identity_service

    role = "存证人" if kind == "preservation" else "当事人"
    rows = []
    for party in parties:
        name: str | None = None
        number: str | None = None
        if is_id(party, "usr"):
            try:
                name = identity_service.verified_name(session=session, user_id=party)
                masked = getattr(identity_service, "masked", None)  # masked (name, ID number) or Nones
                masked_name, number = masked(session, party) if masked is not None else (None, None)
                name = name or masked_name
            except QianshuError:  # erased (crypto-shredded) identity: the report says so
                name, number = "（身份信息已依法删除）", None
        rows.append((role, name or "（未完成实名认证）", number or "—", party))
    return rows


def _signer(name: str | None, org: str | None) -> str:
    if name and org and name != org:
        return f"{name}（{org}）"
    return name or org or "—"


def _signature_rows(session: Session, pdfs: list[tuple[str, bytes]]) -> list[list[tuple[str, str]]]:
    from qianshu.signing import service as signing_service

    roots = signing_service.trust_roots(runtime=runtime_of(session), session=session)
    out = []
    for label, data in pdfs:
        report = signing_service.validate_pdf(data, trust_roots=roots)
        for sig in report.signatures:
            cert = sig.chain[0] if sig.chain else None
            out.append(
                [
                    ("所在文件", label),
                    ("签名域", sig.field_name),
                    ("签署人", _signer(sig.signer_name, sig.signer_org)),
                    ("证书主体", cert.subject if cert else "—"),
                    ("证书签发者", cert.issuer if cert else "—"),
                    ("证书序列号", cert.serial if cert else "—"),
                    (
                        "证书有效期",
                        f"{documents.beijing(cert.not_before)} 至 {documents.beijing(cert.not_after)}" if cert else "—",
                    ),
                    ("证书 SHA-256", cert.sha256 if cert else "—"),
                    ("签署时间（签署人声明）", documents.beijing(sig.signing_time)),
                    ("时间戳时间", documents.beijing(sig.timestamp_time)),
                    ("PAdES 级别", sig.pades_level.value if sig.pades_level else "—"),
                    ("验证结论", "有效" if sig.ok else "无效：" + "；".join(sig.problems)),
                ]
            )
    return out


def _request_rows(session: Session, row: EvidenceReport) -> list[tuple[str, str]]:
    rows = [("报告编号", row.id), ("申请时间", documents.beijing(row.created_at))]
    if row.channel == "authority":
        kind = AuthorityKind(row.authority_kind or "court")
        rows += [
            ("申请方式", "有权机关依法调取"),
            ("请求机构类型", AUTHORITY_LABELS[kind][0]),
            ("请求机构", row.authority_name or "—"),
            ("文书编号", row.reference_no or "—"),
        ]
    else:
        rows += [("申请方式", "当事人申请"), ("申请人", row.requested_by)]
    rows += [("审批时间", documents.beijing(row.decided_at)), ("审批人", row.decided_by or "—")]
    return rows


def issue_report(*, session: Session, report_id: str) -> ReportRead | None:
    """Build, sign, store and log the report of an approved request; None while its evidence is unlogged."""
    from qianshu.storage import service as storage_service

    runtime = runtime_of(session)
    clock = runtime.clock
    row = _row_or_raise(session, report_id)
    stream = subject_stream(row.subject_kind, row.subject_id)
    evidence_service.lock_stream(session=session, stream=stream)
    session.refresh(row)
    if row.status == "issued":
        return _read(session, row)
    if row.status != "approved":
        raise Conflict("该申请未获批准，不能出具报告", detail_en=f"The request is {row.status}")
    material = subjects.get_material(session=session, kind=row.subject_kind, subject_id=row.subject_id)
    leaves = []
    for name, entry_id in material.log_entries:
        leaf = translog.get_leaf(session=session, entry_id=entry_id)
        if leaf is None or leaf.index is None:
            return None
        leaves.append((name, leaf))
    size = translog.tree_size(session=session)
    proofs = [
        (name, translog.inclusion_proof(session=session, index=leaf.index, tree_size=size))
        for name, leaf in leaves
        if leaf.index is not None
    ]
    note = proofs[0][1].checkpoint if proofs else None
    if note is None:
        note = translog.latest_checkpoint(session=session)
    events = [(s, evidence_service.list_events(session=session, stream=s)) for s in material.audit_streams]
    hashes = [(f.label + "（" + f.path + "）", hashlib.sha256(f.data).hexdigest()) for f in material.files]
    hashes += [(t.label + " 令牌", hashlib.sha256(t.token).hexdigest()) for t in material.timestamps]
    hashes += [(f"日志条目 {name} 叶哈希", p.leaf_hash) for name, p in proofs]
    tokens = []
    for stamp in material.timestamps:
        facts = read_token(stamp.token)
        tokens.append(
            documents.TokenRow(
                label=stamp.label,
                gen_time=facts.gen_time,
                serial=facts.serial_hex,
                tsa=facts.tsa_name,
                policy=facts.policy,
                imprint=facts.imprint.hex(),
                token_sha256=hashlib.sha256(stamp.token).hexdigest(),
                token_b64=base64.b64encode(stamp.token).decode(),
            )
        )
    now = clock.now()
    content = documents.ReportContent(
        report_id=row.id,
        issued_at=now,
        operator_name=runtime.settings.operator_name,
        request_rows=_request_rows(session, row),
        subject_rows=material.facts,
        parties=_party_rows(session, material.summary.parties, row.subject_kind),
        signatures=_signature_rows(session, [(f.label, f.data) for f in material.files if f.role == "signed_pdf"]),
        audit=[
            (str(e.seq), documents.beijing(e.created_at), e.actor, e.action, e.event_hash)
            for _s, stream_events in events
            for e in stream_events
        ],
        audit_heads=[(s, stream_events[-1].event_hash) for s, stream_events in events if stream_events],
        hashes=hashes,
        tokens=tokens,
        log_proofs=[
            documents.LogProofRow(
                label=f"日志条目 {name}",
                entry_id=dict(material.log_entries)[name],
                index=p.index,
                leaf_hash=p.leaf_hash,
                entry_json=(translog.get_entry(session=session, index=p.index) or b"").decode("utf-8"),
                path=p.hashes,
            )
            for name, p in proofs
        ],
        checkpoint_note=note,
        tree_size=size,
        root_hash=proofs[0][1].root_hash if proofs else "",
        verify_url=f"{runtime.settings.public_base_url}/verify",
    )
    pdf, area = documents.report_pdf(content, font_path=runtime.settings.reportlab_cjk_font)
    signed, cert_id = platform_seal.sign_as_platform(
        session=session,
        pdf=pdf,
        field_name=REPORT_FIELD,
        page=area.page,
        rect=area.rect,
        reason="电子数据证据报告",
    )
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=PLATFORM_SUBJECT, stream=signed, media_type="application/pdf"
    )
    row.status, row.issued_at = "issued", now
    row.report_blob_id, row.report_sha256, row.signer_cert_id = blob.id, blob.sha256, cert_id
    session.flush()
    _event(
        session,
        clock,
        row,
        actor="system",
        action="evidence.report_issued",
        data={"report_sha256": blob.sha256},
    )
    leaf = translog.append_entry(
        session=session,
        clock=clock,
        entry={
            "type": "evidence.report",
            "id": row.id,
            "subject": row.subject_id,
            "sha256": blob.sha256,
            "audit_head": evidence_service.chain_head(session=session, stream=stream),
        },
    )
    row.log_entry_id = leaf.entry_id
    session.flush()
    log.info("evidence_report_issued", report_id=row.id, entry_id=leaf.entry_id)
    return _read(session, row)


def issue_now(*, runtime: Runtime, report_id: str) -> None:
    """Sequence the log and issue the report now when possible; the queued job finishes otherwise."""
    try:
        translog.sequence_pending(runtime)
        with runtime.transaction() as session:
            issued = issue_report(session=session, report_id=report_id)
        if issued is not None:
            translog.sequence_pending(runtime)  # log the report itself too
    except QianshuError as exc:
        log.warning("evidence_report_deferred", report_id=report_id, error_type=type(exc).__name__)


def approve_and_issue(
    *,
    runtime: Runtime,
    report_id: str,
    operator_id: str,
    reason: str | None = None,
    context: RequestContext | None = None,
) -> ReportRead:
    """Approve a request (committed), then issue the report at once when its evidence is logged."""
    with runtime.transaction() as session:
        approve_report(
            session=session,
            clock=runtime.clock,
            report_id=report_id,
            operator_id=operator_id,
            reason=reason,
            context=context,
        )
    issue_now(runtime=runtime, report_id=report_id)
    with runtime.transaction() as session:
        return _read(session, _row_or_raise(session, report_id))


# --- reading and delivering ------------------------------------------------------------------


def get_report_or_raise(*, session: Session, report_id: str, viewer_id: str, operator: bool = False) -> ReportRead:
    """Return the request when the viewer may see it (operators, the requester, the subject's parties)."""
    return _read(session, _visible_row(session, report_id, viewer_id, operator))


def list_reports(
    *,
    session: Session,
    viewer_id: str,
    operator: bool = False,
    status: str | None = None,
    subject_id: str | None = None,
    limit: int = 200,
) -> list[ReportRead]:
    """Return requests the viewer may see, newest first (operators: all; others: theirs, or a subject's)."""
    query = select(EvidenceReport).order_by(EvidenceReport.created_at.desc(), EvidenceReport.id).limit(limit)
    if status is not None:
        query = query.where(EvidenceReport.status == status)
    if subject_id is not None:
        query = query.where(EvidenceReport.subject_id == subject_id)
    if not operator:
        if subject_id is None:
            query = query.where(EvidenceReport.requested_by == viewer_id)
        rows = [r for r in session.scalars(query) if _may_see(session, r, viewer_id, operator)]
    else:
        rows = list(session.scalars(query))
    return [_read(session, r) for r in rows]


def report_bytes(*, session: Session, report_id: str, viewer_id: str, operator: bool = False) -> bytes:
    """Return the issued report PDF: to operators, or to the party who requested it."""
    from qianshu.storage import service as storage_service

    row = _visible_row(session, report_id, viewer_id, operator)
    if not operator and not (row.channel == "party" and row.requested_by == viewer_id):
        raise Forbidden("该报告仅提供给申请人", detail_en="The report goes to its requester only")
    if row.status != "issued" or row.report_blob_id is None:
        raise ReportNotIssued()
    return storage_service.read_blob_bytes(session=session, blob_id=row.report_blob_id)


def request_document(*, session: Session, report_id: str) -> tuple[bytes, str]:
    """Return an authority request's document and its media type (operators only; checked by the caller)."""
    from qianshu.storage import service as storage_service

    row = _row_or_raise(session, report_id)
    if row.request_document_blob_id is None:
        raise NotFound("该申请没有请求文书", detail_en="The request has no document")
    blob = storage_service.get_blob_or_raise(session=session, blob_id=row.request_document_blob_id)
    return storage_service.read_blob_bytes(session=session, blob_id=blob.id), blob.media_type


def record_delivery(
    *,
    session: Session,
    clock: Clock,
    report_id: str,
    item: str,
    operator_id: str,
    context: RequestContext | None = None,
) -> DeliveryRead:
    """Record that an authority's report (`report_pdf`) or bundle (`bundle`) was handed over (P9)."""
    from qianshu.privacy import service as privacy_service

    if item not in DELIVERED_FIELDS:
        raise InvalidInput("交付内容无效", detail_en=f"Unknown delivery item {item!r}")
    row = _row_or_raise(session, report_id)
    if row.channel != "authority" or row.authority_kind is None or row.authority_name is None:
        raise Conflict("只有有权机关的调取需要登记交付", detail_en="Only an authority's request is delivered")
    if row.status != "issued":
        raise ReportNotIssued()
    subject = subjects.get_subject_or_raise(session=session, kind=row.subject_kind, subject_id=row.subject_id)
    kind = AuthorityKind(row.authority_kind)
    purpose = f"依{AUTHORITY_LABELS[kind][0]}调取证据文书（{row.reference_no}）出具电子数据证据"
    sharing_ids = [
        privacy_service.record_sharing(
            session=session,
            clock=clock,
            subject_id=party,
            recipient=row.authority_name,
            recipient_kind=kind.value,
            fields=DELIVERED_FIELDS[item],
            purpose=purpose[:200],
            legal_basis="legal_obligation",
            object_id=row.id,
            actor=operator_id,
            context=context,
        )
        for party in subject.parties
    ]
    delivery = EvidenceDelivery(
        id=new_id("dlv"),
        report_id=row.id,
        subject_id=row.subject_id,
        recipient=row.authority_name,
        recipient_kind=kind.value,
        item=item,
        purpose=purpose[:200],
        delivered_by=operator_id,
        delivered_at=clock.now(),
        sharing_id=sharing_ids[0] if sharing_ids else None,
    )
    session.add(delivery)
    session.flush()
    _event(
        session,
        clock,
        row,
        actor=operator_id,
        action="evidence.report_delivered",
        data={"item": item, "delivery_id": delivery.id, "authority_kind": kind.value},
        context=context,
    )
    log.info("evidence_report_delivered", report_id=row.id, delivery_id=delivery.id, item=item)
    return DeliveryRead.model_validate(delivery)


def list_deliveries(*, session: Session, subject_id: str) -> list[DeliveryRead]:
    """Return every delivery of a subject's evidence to an outside body, newest first."""
    rows = session.scalars(
        select(EvidenceDelivery)
        .where(EvidenceDelivery.subject_id == subject_id)
        .order_by(EvidenceDelivery.delivered_at.desc(), EvidenceDelivery.id)
    )
    return [DeliveryRead.model_validate(r) for r in rows]


def download_report(
    *,
    session: Session,
    clock: Clock,
    report_id: str,
    viewer_id: str,
    operator: bool = False,
    context: RequestContext | None = None,
) -> bytes:
    """Return the issued report PDF; an operator's download of an authority's report is a delivery."""
    data = report_bytes(session=session, report_id=report_id, viewer_id=viewer_id, operator=operator)
    if operator and _row_or_raise(session, report_id).channel == "authority":
        record_delivery(
            session=session,
            clock=clock,
            report_id=report_id,
            item="report_pdf",
            operator_id=viewer_id,
            context=context,
        )
    return data


def download_bundle(
    *,
    session: Session,
    clock: Clock,
    report_id: str,
    viewer_id: str,
    operator: bool = False,
    context: RequestContext | None = None,
) -> tuple[str, bytes]:
    """Return (file name, bundle) of the report's subject, the report included; a delivery for authorities."""
    from qianshu.evidence import bundle

    row = _visible_row(session, report_id, viewer_id, operator)
    if not operator and not (row.channel == "party" and row.requested_by == viewer_id):
        raise Forbidden("证据包仅提供给申请人", detail_en="The bundle goes to the report's requester only")
    if row.status != "issued":
        raise ReportNotIssued()
    data = bundle.build_bundle(session=session, subject_kind=row.subject_kind, subject_id=row.subject_id)
    if operator and row.channel == "authority":
        record_delivery(
            session=session,
            clock=clock,
            report_id=report_id,
            item="bundle",
            operator_id=viewer_id,
            context=context,
        )
    return bundle.bundle_name(row.subject_kind, row.subject_id), data
