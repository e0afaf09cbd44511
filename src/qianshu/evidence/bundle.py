"""Evidence bundles: one ZIP per preserved file or contract, checkable offline (`evidence.verifier`).

Layout (format `qianshu-evidence-bundle` version 1, see `verifier/format.py`):

    manifest.json                      every file below with its SHA-256, size and role
    subject/original.<ext>             the preserved file (or the contract as uploaded)
    subject/*.pdf                      signed PDFs (the signed contract, the preservation certificate)
    report/<rpt_…>.pdf                 issued evidence reports, when any
    audit/<stream>.json                each audit stream with its hash chain, from genesis
    certificates/*.pem                 issuing CA, TSA, OCSP responder and signer certificates
    revocation/*.crl, revocation/*.der CRLs of both CAs, OCSP responses for the signers
    timestamps/*.tst                   RFC 3161 tokens (CMS ContentInfo, DER)
    log/entries/*.json, log/proofs/*.json, log/checkpoint.txt
                                       log entries, inclusion proofs and the signed checkpoint;
                                       `anchor-<stream>` entries anchor the audit chains' heads

The root certificate is deliberately absent: a verifier must get it from elsewhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.errors import Conflict
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import anchors, chain, subjects, translog
from qianshu.evidence import service as evidence_service
from qianshu.evidence.models import EvidenceReport
from qianshu.evidence.verifier.format import LogEntryRef, Manifest, ManifestFile, TimestampRef
from qianshu.evidence.verifier.tokens import token_certificates

__all__ = ["BundleNotReady", "build_bundle", "bundle_name"]

log = get_logger("qianshu.evidence")


class BundleNotReady(Conflict):
    """The subject's evidence is not in the log yet, so no inclusion proof can be given."""

    slug = "evidence-bundle-not-ready"
    title = "证据尚未记入透明日志，请稍后再试"
    title_en = "The evidence is not in the log yet; try again shortly"


@dataclass
class _Builder:
    files: list[ManifestFile] = field(default_factory=list)
    data: dict[str, bytes] = field(default_factory=dict)

    def add(self, path: str, data: bytes, role: str) -> str:
        if path in self.data:
            return path
        self.files.append(ManifestFile(path, hashlib.sha256(data).hexdigest(), len(data), role))
        self.data[path] = data
        return path


def bundle_name(kind: str, subject_id: str) -> str:
    """Return the download file name of a subject's bundle."""
    return f"evidence-{kind}-{subject_id}.zip"


def _stream_file(stream: str) -> str:
    return "audit/" + stream.replace(":", "-") + ".json"


def _audit_json(session: Session, stream: str) -> bytes:
    events = evidence_service.list_events(session=session, stream=stream)
    doc = {
        "stream": stream,
        "events": [
            {
                "id": e.id,
                "stream": e.stream,
                "seq": e.seq,
                "actor": e.actor,
                "action": e.action,
                "object_id": e.object_id,
                "data": e.data,
                "request_id": e.request_id,
                "network_log_id": e.network_log_id,
                "created_at": chain.format_time(e.created_at),
                "prev_hash": e.prev_hash,
                "event_hash": e.event_hash,
            }
            for e in events
        ],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


def _add_certificates(session: Session, builder: _Builder, tokens: list[bytes], signer_ids: list[str]) -> None:
    """Add the CA, TSA, responder and signer certificates, both CRLs and the signers' OCSP responses."""
    from qianshu.pki import service as pki_service

    clock = runtime_of(session).clock
    root = pki_service.root_certificate_der(session=session)
    issuing = pki_service.ca_chain(session=session)[0]
    seen = {hashlib.sha256(root).digest()}

    def add_cert(der: bytes, name: str) -> None:
        digest = hashlib.sha256(der).digest()
        if digest not in seen:
            seen.add(digest)
            builder.add(f"certificates/{name}.pem", _pem(der), "certificate")

    add_cert(issuing, "issuing-ca")
    for token in tokens:
        for cert in token_certificates(token):
            der = cert.dump()
            add_cert(der, f"tsa-{hashlib.sha256(der).hexdigest()[:12]}")
    for which in ("root", "issuing"):
        builder.add(f"revocation/{which}.crl", pki_service.crl_der(session=session, clock=clock, which=which), "crl")
    for cert_id in dict.fromkeys(signer_ids):
        record = pki_service.get_certificate(session=session, cert_id=cert_id)
        if record is None:
            continue
        if not record.redacted:  # after the holder's cancellation it is only in the signed PDF itself
            add_cert(record.der, cert_id)
        response = pki_service.ocsp_response_for(session=session, clock=clock, cert_id=cert_id)
        builder.add(f"revocation/ocsp-{cert_id}.der", response, "ocsp")
        for responder in ocsp.load_der_ocsp_response(response).certificates:
            der = responder.public_bytes(Encoding.DER)
            add_cert(der, f"ocsp-responder-{hashlib.sha256(der).hexdigest()[:12]}")


def _issued_reports(session: Session, subject_id: str) -> list[EvidenceReport]:
    return list(
        session.scalars(
            select(EvidenceReport)
            .where(EvidenceReport.subject_id == subject_id, EvidenceReport.status == "issued")
            .order_by(EvidenceReport.issued_at, EvidenceReport.id)
        )
    )


def _sequenced_anchor(session: Session, stream: str) -> str | None:
    """Return the log entry id of the stream's newest anchor that is in the log already, if any."""
    for anchor in anchors.latest_anchors(session=session, stream=stream):
        leaf = translog.get_leaf(session=session, entry_id=anchor.log_entry_id)
        if leaf is not None and leaf.index is not None:
            return anchor.log_entry_id
    return None


def _zip(manifest: Manifest, data: dict[str, bytes], when: tuple[int, int, int, int, int, int]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in [
            ("manifest.json", manifest.to_json()),
            *((f.path, data[f.path]) for f in manifest.files),
        ]:
            info = zipfile.ZipInfo(path, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return out.getvalue()


def build_bundle(*, session: Session, subject_kind: str, subject_id: str) -> bytes:
    """Return the evidence bundle (ZIP) of a subject; raise BundleNotReady while its entry is unlogged."""
    from qianshu.storage import service as storage_service

    runtime = runtime_of(session)
    material = subjects.get_material(session=session, kind=subject_kind, subject_id=subject_id)
    builder = _Builder()
    for item in material.files:
        builder.add(item.path, item.data, item.role)
    signed = [f.path for f in material.files if f.role == "signed_pdf"]
    entries: list[tuple[str, str]] = []
    for name, entry_id in material.log_entries:
        leaf = translog.get_leaf(session=session, entry_id=entry_id)
        if leaf is None or leaf.index is None:
            raise BundleNotReady()
        entries.append((name, entry_id))
    signer_ids = list(material.certificate_ids)
    for report in _issued_reports(session, subject_id):
        assert report.report_blob_id is not None
        path = builder.add(
            f"report/{report.id}.pdf",
            storage_service.read_blob_bytes(session=session, blob_id=report.report_blob_id),
            "report",
        )
        signed.append(path)
        if report.signer_cert_id:
            signer_ids.append(report.signer_cert_id)
        if report.log_entry_id:
            leaf = translog.get_leaf(session=session, entry_id=report.log_entry_id)
            if leaf is not None and leaf.index is not None:  # a report logged moments ago may still wait
                entries.append((f"report-{report.id}", report.log_entry_id))
    for stream in material.audit_streams:
        anchor = _sequenced_anchor(session, stream)
        if anchor is not None:
            entries.append((f"anchor-{stream.replace(':', '-')}", anchor))
    stamps = []
    for stamp in material.timestamps:
        token_path = builder.add(f"timestamps/{stamp.name}.tst", stamp.token, "timestamp")
        stamps.append(TimestampRef(token=token_path, imprint_sha256=stamp.imprint_sha256, covers=stamp.covers))
    audit = [builder.add(_stream_file(s), _audit_json(session, s), "audit") for s in material.audit_streams]
    _add_certificates(session, builder, [s.token for s in material.timestamps], signer_ids)
    size = translog.tree_size(session=session)
    refs: list[LogEntryRef] = []
    note: str | None = None
    for name, entry_id in entries:
        leaf = translog.get_leaf(session=session, entry_id=entry_id)
        assert leaf is not None and leaf.index is not None
        proof = translog.inclusion_proof(session=session, index=leaf.index, tree_size=size)
        note = note or proof.checkpoint
        body = translog.get_entry(session=session, index=leaf.index)
        assert body is not None
        proof_doc = {
            "index": proof.index,
            "tree_size": proof.tree_size,
            "leaf_hash": proof.leaf_hash,
            "hashes": proof.hashes,
            "root_hash": proof.root_hash,
            "entry_id": entry_id,
        }
        refs.append(
            LogEntryRef(
                entry=builder.add(f"log/entries/{name}.json", body, "log_entry"),
                proof=builder.add(
                    f"log/proofs/{name}.json",
                    (json.dumps(proof_doc, indent=2, sort_keys=True) + "\n").encode(),
                    "log_proof",
                ),
            )
        )
    checkpoint = builder.add(
        "log/checkpoint.txt", (note or translog.latest_checkpoint(session=session)).encode(), "checkpoint"
    )
    now = runtime.clock.now()
    manifest = Manifest(
        subject_kind=subject_kind,
        subject_id=subject_id,
        log_origin=runtime.settings.log_origin,
        files=tuple(builder.files),
        timestamps=tuple(stamps),
        audit=tuple(audit),
        checkpoint=checkpoint,
        entries=tuple(refs),
        signed_pdfs=tuple(signed),
    )
    when = (max(now.year, 1980), now.month, now.day, now.hour, now.minute, now.second)
    data = _zip(manifest, builder.data, when)
    log.info("evidence_bundle_built", subject_id=subject_id, files=len(builder.files), size=len(data))
    return data
