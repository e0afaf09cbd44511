"""Preservation (存证): a file, or only its SHA-256, time-stamped, logged and certified (PROMISES E1, E2).

1. `preserve_file` / `preserve_hash` (one transaction): the file is stored encrypted per file
   (storage) — never parsed — its SHA-256 is time-stamped by the TSA (RFC 3161), the record and
   its audit event (stream `preservation:<id>`) are written, and an entry
   `{type: preservation, id, sha256, tst_sha256, audit_head}` is appended to the transparency
   log; a job that certifies the record is queued with it.
2. `certify` (once the log has sequenced the entry): the preservation certificate — a Chinese PDF
   naming the hash, the time, the time-stamp and the log index with its checkpoint — is signed by
   the platform (PAdES B-LTA) and stored. `submit_file`/`submit_hash` do both steps at once when
   they can; otherwise the job finishes step 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
import threading
import unicodedata
from collections.abc import Coroutine, Iterable
from typing import Any, BinaryIO, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, InvalidInput, NotFound, QianshuError
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.evidence import documents, platform_seal, translog
from qianshu.evidence import service as evidence_service
from qianshu.evidence.checkpoint import parse_checkpoint, split_note
from qianshu.evidence.evidence_schemas import PreservationRead
from qianshu.evidence.models import Preservation
from qianshu.evidence.subjects import SubjectFile, SubjectMaterial, SubjectSummary, SubjectTimestamp
from qianshu.evidence.verifier.tokens import read_token

__all__ = [
    "CERTIFY_JOB",
    "PreservationNotCertified",
    "certificate_bytes",
    "certify",
    "evidence_material",
    "evidence_subject",
    "finish",
    "get_preservation",
    "get_preservation_or_raise",
    "list_preservations",
    "original_bytes",
    "preserve_file",
    "preserve_hash",
    "stream_of",
    "submit_file",
    "submit_hash",
    "timestamp_digest",
]

log = get_logger("qianshu.evidence")

CERTIFY_JOB = "evidence.preservation.certify"
SUBMIT_LIMIT = Limit(count=60, seconds=3600)  # per owner
CERTIFICATE_FIELD = "QianshuPlatformSeal"
_PREFIX = "prs"
_TABLE = "evidence_preservation"
_LABEL_MAX = 200
_OWNER_RE = re.compile(r"^(usr|org)_[0-9a-hjkmnp-tv-z]{20}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_EXTENSION_RE = re.compile(r"^\.[a-z0-9]{1,10}$")
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
    "application/zip": ".zip",
}
T = TypeVar("T")


class PreservationNotCertified(Conflict):
    """The record exists but its certificate is still being made (the log has not sequenced it yet)."""

    slug = "preservation-not-certified"
    title = "存证证书尚在生成中，请稍后再试"
    title_en = "The preservation certificate is not ready yet"


# --- helpers ----------------------------------------------------------------------------------


def stream_of(preservation_id: str) -> str:
    """Return the audit stream of one preservation (its own hash chain, carried in its bundle)."""
    return f"preservation:{preservation_id}"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, name="qianshu-evidence-tsa")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]  # set by target


def timestamp_digest(*, session: Session, digest: bytes) -> bytes:
    """Return an RFC 3161 TimeStampToken (DER) over a SHA-256 `digest` from the configured TSA."""
    from qianshu.pki import service as pki_service

    stamper = pki_service.timestamper_for(runtime_of(session), session=session)
    token = _run(stamper.async_timestamp(digest, "sha256"))
    der: bytes = token.dump()
    return der


def _check_owner(owner_id: str) -> str:
    if not _OWNER_RE.fullmatch(owner_id):
        raise InvalidInput("存证人标识无效", detail_en="Malformed owner id")
    return owner_id


def _check_label(label: str | None) -> str | None:
    if label is None:
        return None
    value = unicodedata.normalize("NFC", label).strip()
    if not value:
        return None
    if len(value) > _LABEL_MAX or any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value):
        raise InvalidInput(
            f"名称须为 1 至 {_LABEL_MAX} 个可见字符",
            detail_en=f"The label must be 1 to {_LABEL_MAX} visible characters",
        )
    return value


def _seal_label(session: Session, row: Preservation, label: str | None) -> bytes | None:
    if label is None:
        return None
    from qianshu.vault import service as vault_service

    return vault_service.encrypt_field(
        session=session, subject_id=row.owner_id, table=_TABLE, column="label", row_id=row.id, value=label
    )


def _open_label(session: Session, row: Preservation) -> str | None:
    if row.label_enc is None:
        return None
    from qianshu.vault import service as vault_service

    try:
        return vault_service.decrypt_field(
            session=session,
            subject_id=row.owner_id,
            table=_TABLE,
            column="label",
            row_id=row.id,
            blob=row.label_enc,
        )
    except vault_service.DataShredded:
        return None


def _read(session: Session, row: Preservation, *, reveal_label: bool) -> PreservationRead:
    facts = read_token(row.tst)
    return PreservationRead(
        id=row.id,
        owner_id=row.owner_id,
        kind=row.kind,  # type: ignore[arg-type]  # checked on write: file | hash
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        label=_open_label(session, row) if reveal_label else None,
        has_file=row.blob_id is not None,
        tst_time=row.tst_time,
        tst_serial=facts.serial_hex,
        tsa=facts.tsa_name,
        log_entry_id=row.log_entry_id,
        log_index=row.log_index,
        status=row.status,  # type: ignore[arg-type]  # pending | certified
        certificate_sha256=row.certificate_sha256,
        created_at=row.created_at,
        certified_at=row.certified_at,
    )


def _row_or_raise(session: Session, preservation_id: str) -> Preservation:
    row = session.get(Preservation, preservation_id) if is_id(preservation_id, _PREFIX) else None
    if row is None:
        raise NotFound("未找到该存证记录", detail_en="No such preservation record")
    return row


def _visible_row(session: Session, preservation_id: str, viewer_id: str, operator: bool) -> Preservation:
    row = _row_or_raise(session, preservation_id)
    if not operator and row.owner_id != viewer_id:
        raise NotFound("未找到该存证记录", detail_en="No such preservation record")
    return row


# --- creating ---------------------------------------------------------------------------------


def _create(
    session: Session,
    clock: Clock,
    *,
    owner_id: str,
    actor: str,
    kind: str,
    sha256: str,
    size: int | None,
    media_type: str | None,
    blob_id: str | None,
    label: str | None,
    context: RequestContext | None,
) -> PreservationRead:
    from qianshu.jobs import service as jobs_service

    token = timestamp_digest(session=session, digest=bytes.fromhex(sha256))
    facts = read_token(token)
    if facts.imprint.hex() != sha256:
        raise RuntimeError("the TSA time-stamped another digest")
    tst_sha256 = hashlib.sha256(token).hexdigest()
    row = Preservation(
        id=new_id(_PREFIX),
        owner_id=owner_id,
        kind=kind,
        sha256=sha256,
        size=size,
        media_type=media_type,
        blob_id=blob_id,
        tst=token,
        tst_time=facts.gen_time,
        log_entry_id="pending",
        status="pending",
        created_at=clock.now(),
    )
    row.label_enc = _seal_label(session, row, label)
    session.add(row)
    session.flush()
    stream = stream_of(row.id)
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream,
        actor=actor,
        action="evidence.preservation_created",
        object_id=row.id,
        data={
            "kind": kind,
            "sha256": sha256,
            "size": size,
            "tst_sha256": tst_sha256,
            "tst_serial": facts.serial_hex,
        },
        context=context,
    )
    leaf = translog.append_entry(
        session=session,
        clock=clock,
        entry={
            "type": "preservation",
            "id": row.id,
            "sha256": sha256,
            "tst_sha256": tst_sha256,
            "audit_head": evidence_service.chain_head(session=session, stream=stream),
        },
    )
    row.log_entry_id = leaf.entry_id
    session.flush()
    jobs_service.enqueue(session=session, clock=clock, kind=CERTIFY_JOB, payload={"preservation_id": row.id})
    log.info("evidence_preserved", preservation_id=row.id, kind=kind, entry_id=leaf.entry_id)
    return _read(session, row, reveal_label=True)


def preserve_file(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    stream: BinaryIO | bytes | Iterable[bytes],
    media_type: str = "application/octet-stream",
    label: str | None = None,
    actor: str | None = None,
    context: RequestContext | None = None,
) -> PreservationRead:
    """Store a file encrypted, time-stamp its SHA-256, log it and queue its certificate."""
    from qianshu.storage import service as storage_service

    _check_owner(owner_id)
    clean_label = _check_label(label)
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=owner_id, stream=stream, media_type=media_type
    )
    if blob.size == 0:
        raise InvalidInput("文件为空，无法存证", detail_en="The file is empty")
    return _create(
        session,
        clock,
        owner_id=owner_id,
        actor=actor or owner_id,
        kind="file",
        sha256=blob.sha256,
        size=blob.size,
        media_type=blob.media_type,
        blob_id=blob.id,
        label=clean_label,
        context=context,
    )


def preserve_hash(
    *,
    session: Session,
    clock: Clock,
    owner_id: str,
    sha256: str,
    label: str | None = None,
    actor: str | None = None,
    context: RequestContext | None = None,
) -> PreservationRead:
    """Time-stamp and log the SHA-256 of a file the user keeps, and queue its certificate."""
    _check_owner(owner_id)
    digest = sha256.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise InvalidInput("SHA-256 摘要须为 64 位十六进制", detail_en="sha256 must be 64 hexadecimal digits")
    return _create(
        session,
        clock,
        owner_id=owner_id,
        actor=actor or owner_id,
        kind="hash",
        sha256=digest,
        size=None,
        media_type=None,
        blob_id=None,
        label=_check_label(label),
        context=context,
    )


# --- certifying -------------------------------------------------------------------------------


def _owner_label(session: Session, owner_id: str) -> str:
    if owner_id.startswith("usr_"):
        from qianshu.accounts import service as accounts_service

        try:
            profile = accounts_service.get_profile(session=session, user_id=owner_id)
        except QianshuError:
            return owner_id
        shown = profile.display_name or profile.phone or profile.email
        return f"{shown}（{owner_id}）" if shown else owner_id
    return owner_id


def certify(*, session: Session, preservation_id: str) -> PreservationRead | None:
    """Make, sign and store the preservation certificate; None while the log entry is pending."""
    from qianshu.storage import service as storage_service

    runtime = runtime_of(session)
    clock = runtime.clock
    evidence_service.lock_stream(session=session, stream=stream_of(preservation_id))
    row = _row_or_raise(session, preservation_id)
    if row.status == "certified":
        return _read(session, row, reveal_label=False)
    leaf = translog.get_leaf(session=session, entry_id=row.log_entry_id)
    if leaf is None or leaf.index is None:
        return None
    proof = translog.inclusion_proof(session=session, index=leaf.index)
    origin = runtime.settings.log_origin
    if proof.checkpoint is not None:
        origin = parse_checkpoint(split_note(proof.checkpoint)[0]).origin
    facts = read_token(row.tst)
    now = clock.now()
    content = documents.CertificateContent(
        preservation_id=row.id,
        owner=_owner_label(session, row.owner_id),
        label=_open_label(session, row),
        kind=row.kind,
        size=row.size,
        sha256=row.sha256,
        tst_time=facts.gen_time,
        tst_serial=facts.serial_hex,
        tsa=facts.tsa_name,
        tst_sha256=hashlib.sha256(row.tst).hexdigest(),
        log_origin=origin,
        log_index=proof.index,
        tree_size=proof.tree_size,
        root_hash=proof.root_hash,
        leaf_hash=proof.leaf_hash,
        issued_at=now,
        operator_name=runtime.settings.operator_name,
        verify_url=f"{runtime.settings.public_base_url}/verify",
    )
    pdf, area = documents.certificate_pdf(content, font_path=runtime.settings.reportlab_cjk_font)
    signed, cert_id = platform_seal.sign_as_platform(
        session=session,
        pdf=pdf,
        field_name=CERTIFICATE_FIELD,
        page=area.page,
        rect=area.rect,
        reason="电子数据存证证书",
    )
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=row.owner_id, stream=signed, media_type="application/pdf"
    )
    row.status, row.log_index, row.certified_at = "certified", proof.index, now
    row.certificate_blob_id, row.certificate_sha256, row.signer_cert_id = blob.id, blob.sha256, cert_id
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream_of(row.id),
        actor="system",
        action="evidence.preservation_certified",
        object_id=row.id,
        data={"certificate_sha256": blob.sha256, "log_index": proof.index, "signer_cert_id": cert_id},
    )
    log.info("evidence_certified", preservation_id=row.id, log_index=proof.index)
    return _read(session, row, reveal_label=False)


def finish(*, runtime: Runtime, preservation_id: str) -> None:
    """Sequence the log and certify now when possible; the queued job finishes otherwise."""
    try:
        translog.sequence_pending(runtime)
        with runtime.transaction() as session:
            certify(session=session, preservation_id=preservation_id)
    except QianshuError as exc:
        log.warning("evidence_certify_deferred", preservation_id=preservation_id, error_type=type(exc).__name__)


def _submit(runtime: Runtime, owner_id: str, create: Any) -> PreservationRead:
    enforce(runtime, f"evidence.preserve:{owner_id}", SUBMIT_LIMIT)
    with runtime.transaction() as session:
        record: PreservationRead = create(session)
    finish(runtime=runtime, preservation_id=record.id)
    with runtime.transaction() as session:
        return _read(session, _row_or_raise(session, record.id), reveal_label=True)


def submit_file(
    *,
    runtime: Runtime,
    owner_id: str,
    stream: BinaryIO | bytes | Iterable[bytes],
    media_type: str = "application/octet-stream",
    label: str | None = None,
    context: RequestContext | None = None,
) -> PreservationRead:
    """Preserve a file and certify it at once when the log allows (rate-limited per owner)."""
    return _submit(
        runtime,
        owner_id,
        lambda s: preserve_file(
            session=s,
            clock=runtime.clock,
            owner_id=owner_id,
            stream=stream,
            media_type=media_type,
            label=label,
            context=context,
        ),
    )


def submit_hash(
    *,
    runtime: Runtime,
    owner_id: str,
    sha256: str,
    label: str | None = None,
    context: RequestContext | None = None,
) -> PreservationRead:
    """Preserve a SHA-256 and certify it at once when the log allows (rate-limited per owner)."""
    return _submit(
        runtime,
        owner_id,
        lambda s: preserve_hash(
            session=s, clock=runtime.clock, owner_id=owner_id, sha256=sha256, label=label, context=context
        ),
    )


# --- reading ----------------------------------------------------------------------------------


def get_preservation(
    *, session: Session, preservation_id: str, viewer_id: str, operator: bool = False
) -> PreservationRead | None:
    """Return the record when the viewer may see it (its owner; operators without the label), else None."""
    try:
        row = _visible_row(session, preservation_id, viewer_id, operator)
    except NotFound:
        return None
    return _read(session, row, reveal_label=row.owner_id == viewer_id)


def get_preservation_or_raise(
    *, session: Session, preservation_id: str, viewer_id: str, operator: bool = False
) -> PreservationRead:
    """Return the record the viewer may see or raise NotFound."""
    row = _visible_row(session, preservation_id, viewer_id, operator)
    return _read(session, row, reveal_label=row.owner_id == viewer_id)


def list_preservations(*, session: Session, owner_id: str, limit: int = 200) -> list[PreservationRead]:
    """Return the owner's records, newest first."""
    rows = session.scalars(
        select(Preservation)
        .where(Preservation.owner_id == owner_id)
        .order_by(Preservation.created_at.desc(), Preservation.id)
        .limit(limit)
    )
    return [_read(session, row, reveal_label=True) for row in rows]


def certificate_bytes(*, session: Session, preservation_id: str, viewer_id: str, operator: bool = False) -> bytes:
    """Return the signed certificate PDF; raise PreservationNotCertified while it is being made."""
    from qianshu.storage import service as storage_service

    row = _visible_row(session, preservation_id, viewer_id, operator)
    if row.certificate_blob_id is None:
        raise PreservationNotCertified()
    return storage_service.read_blob_bytes(session=session, blob_id=row.certificate_blob_id)


def original_bytes(*, session: Session, preservation_id: str, viewer_id: str) -> bytes:
    """Return the preserved file to its owner (only the owner: it is never shown to staff here)."""
    from qianshu.storage import service as storage_service

    row = _visible_row(session, preservation_id, viewer_id, operator=False)
    if row.blob_id is None:
        raise NotFound("该存证只提交了摘要，平台未保存原件", detail_en="Only the hash was preserved")
    return storage_service.read_blob_bytes(session=session, blob_id=row.blob_id)


# --- as the subject of reports and bundles (evidence.subjects) --------------------------------


def evidence_subject(*, session: Session, subject_id: str) -> SubjectSummary | None:
    """Return the preservation as a report subject (its owner is the one party), or None."""
    row = session.get(Preservation, subject_id) if is_id(subject_id, _PREFIX) else None
    if row is None:
        return None
    return SubjectSummary(
        kind="preservation",
        id=row.id,
        title=f"电子数据存证 {row.id}",
        parties=(row.owner_id,),
        created_at=row.created_at,
    )


def _extension(media_type: str | None) -> str:
    if media_type is None:
        return ".bin"
    base = media_type.split(";", 1)[0].strip()
    found = _EXTENSIONS.get(base) or mimetypes.guess_extension(base) or ".bin"
    return found if _EXTENSION_RE.fullmatch(found) else ".bin"


def _signed_by_this_platform(session: Session, data: bytes) -> bool:
    """Tell whether a preserved file is a PDF whose signatures all validate against this platform's root.

    Such a file (a contract signed here, as `qianshu demo` preserves) is bundled as a signed PDF, so
    the offline verifier also checks its signatures; a PDF signed under another CA stays an
    `original` (the verifier trusts only our root and would fail it for that reason alone).
    """
    if not data.startswith(b"%PDF") or b"/ByteRange" not in data:
        return False
    from qianshu.signing import service as signing_service

    roots = signing_service.trust_roots(runtime=runtime_of(session), session=session)
    try:
        return signing_service.validate_pdf(data, trust_roots=roots).ok
    except Exception:  # a PDF that cannot even be parsed as signed is bundled as a plain original
        return False


def evidence_material(*, session: Session, subject_id: str) -> SubjectMaterial:
    """Return what reports and bundles need: the original, certificate, token, log entry, audit stream."""
    from qianshu.storage import service as storage_service

    row = _row_or_raise(session, subject_id)
    summary = evidence_subject(session=session, subject_id=subject_id)
    assert summary is not None
    files: list[SubjectFile] = []
    original: str | None = None
    if row.blob_id is not None:
        original = f"subject/original{_extension(row.media_type)}"
        data = storage_service.read_blob_bytes(session=session, blob_id=row.blob_id)
        role = "signed_pdf" if _signed_by_this_platform(session, data) else "original"
        files.append(SubjectFile(path=original, data=data, role=role, label="存证原件"))
    if row.certificate_blob_id is not None:
        data = storage_service.read_blob_bytes(session=session, blob_id=row.certificate_blob_id)
        files.append(
            SubjectFile(path="subject/preservation-certificate.pdf", data=data, role="signed_pdf", label="存证证书")
        )
    label = _open_label(session, row)
    facts = [
        ("对象类型", "电子数据存证"),
        ("存证编号", row.id),
        ("存证方式", "上传文件（平台加密保存）" if row.kind == "file" else "仅提交 SHA-256 摘要"),
        ("名称", label or "—"),
    ]
    if row.size is not None:
        facts += [("文件大小", f"{row.size:,} 字节"), ("文件类型", row.media_type or "—")]
    facts += [("SHA-256", row.sha256), ("存证时间（可信时间戳）", documents.beijing(row.tst_time))]
    return SubjectMaterial(
        summary=summary,
        facts=facts,
        files=files,
        timestamps=[
            SubjectTimestamp(
                name="preservation",
                token=row.tst,
                imprint_sha256=row.sha256,
                covers=original,
                label="存证时间戳",
            )
        ],
        log_entries=[("preservation", row.log_entry_id)],
        audit_streams=[stream_of(row.id)],
        certificate_ids=[row.signer_cert_id] if row.signer_cert_id else [],
    )
