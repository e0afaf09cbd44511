"""Evidence bundles: what they hold, their manifest, and when they can be built."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import bundle, chain, preservation, reports, translog
from qianshu.evidence.verifier.format import parse_manifest
from qianshu.pki import service as pki_service
from tests.evidence import evidence_support
from tests.evidence.evidence_support import ClientAs, read_zip

client_as = evidence_support.client_as  # the shared fixture

CONTENT = b"%PDF-1.4\n% a preserved file, never parsed\n" * 20


def test_bundle_holds_every_piece_of_evidence_listed_in_its_manifest(runtime: Runtime) -> None:
    owner = new_id("usr")
    record = preservation.submit_file(
        runtime=runtime, owner_id=owner, stream=CONTENT, media_type="application/pdf", label="证据.pdf"
    )
    with runtime.transaction() as session:
        data = bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id)
        root = pki_service.root_certificate_der(session=session)
        note = translog.latest_checkpoint(session=session)
        entry = translog.get_entry(session=session, index=record.log_index or 0)
    members = read_zip(data)
    manifest = parse_manifest(members.pop("manifest.json"))
    assert (manifest.subject_kind, manifest.subject_id) == ("preservation", record.id)
    assert {f.path for f in manifest.files} == set(members)
    for item in manifest.files:
        assert hashlib.sha256(members[item.path]).hexdigest() == item.sha256 and len(members[item.path]) == item.size
    roles = {f.path: f.role for f in manifest.files}
    assert members["subject/original.pdf"] == CONTENT and roles["subject/original.pdf"] == "original"
    assert roles["subject/preservation-certificate.pdf"] == "signed_pdf"
    assert manifest.signed_pdfs == ("subject/preservation-certificate.pdf",)
    [stamp] = manifest.timestamps
    assert stamp.covers == "subject/original.pdf" and stamp.imprint_sha256 == record.sha256
    assert members["log/checkpoint.txt"].decode() == note
    assert members["log/entries/preservation.json"] == entry
    proof = json.loads(members["log/proofs/preservation.json"])
    assert proof["index"] == record.log_index and proof["tree_size"] == 1
    assert {r for r in roles.values()} >= {"certificate", "crl", "ocsp", "timestamp", "audit", "checkpoint"}
    certs = [x509.load_pem_x509_certificate(members[p]) for p, r in roles.items() if r == "certificate"]
    assert root not in [c.public_bytes(Encoding.DER) for c in certs]  # the root never comes with the bundle
    [audit_path] = manifest.audit
    audit = json.loads(members[audit_path])
    assert audit["stream"] == preservation.stream_of(record.id)
    prev = chain.GENESIS_HASH
    for event in audit["events"]:
        assert event["prev_hash"] == prev
        prev = event["event_hash"]
    assert json.loads(entry or b"{}")["audit_head"] in [e["event_hash"] for e in audit["events"]]


def test_bundle_of_a_hash_only_preservation_has_no_original(runtime: Runtime) -> None:
    record = preservation.submit_hash(runtime=runtime, owner_id=new_id("usr"), sha256="cd" * 32)
    with runtime.transaction() as session:
        members = read_zip(bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id))
    manifest = parse_manifest(members["manifest.json"])
    assert not manifest.with_role("original")
    [stamp] = manifest.timestamps
    assert stamp.covers is None and stamp.imprint_sha256 == "cd" * 32


def test_bundle_includes_the_issued_report_and_its_log_entry(
    runtime: Runtime, session: Session, clock: FrozenClock
) -> None:
    owner = new_id("usr")
    record = preservation.submit_hash(runtime=runtime, owner_id=owner, sha256="ef" * 32)
    requested = reports.request_report(
        session=session, clock=clock, requester_id=owner, subject_kind="preservation", subject_id=record.id
    )
    session.commit()
    issued = reports.approve_and_issue(runtime=runtime, report_id=requested.id, operator_id=new_id("usr"))
    session.rollback()
    members = read_zip(bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id))
    manifest = parse_manifest(members["manifest.json"])
    report_path = f"report/{requested.id}.pdf"
    assert manifest.file(report_path).role == "report" and report_path in manifest.signed_pdfs
    assert hashlib.sha256(members[report_path]).hexdigest() == issued.report_sha256
    entries = {e.entry for e in manifest.entries}
    assert entries == {"log/entries/preservation.json", f"log/entries/report-{requested.id}.json"}
    logged = json.loads(members[f"log/entries/report-{requested.id}.json"])
    assert logged["sha256"] == issued.report_sha256 and logged["subject"] == record.id
    sizes = {json.loads(members[e.proof])["tree_size"] for e in manifest.entries}
    assert sizes == {2}  # every proof is against the one checkpoint in the bundle


def test_bundle_waits_until_the_subject_is_logged(runtime: Runtime, session: Session, clock: FrozenClock) -> None:
    record = preservation.preserve_hash(session=session, clock=clock, owner_id=new_id("usr"), sha256="12" * 32)
    session.commit()
    with pytest.raises(bundle.BundleNotReady):
        bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id)


def test_api_gives_the_bundle_to_the_owner_only(runtime: Runtime, client_as: ClientAs) -> None:
    owner = client_as()
    record = preservation.submit_file(runtime=runtime, owner_id=owner.principal.user_id, stream=CONTENT)
    res = owner.get(f"/api/v1/preservations/{record.id}/bundle")
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    assert f"evidence-preservation-{record.id}.zip" in res.headers["content-disposition"]
    assert "manifest.json" in read_zip(res.content)
    assert client_as().get(f"/api/v1/preservations/{record.id}/bundle").status_code == 404
    assert client_as(role="operator").get(f"/api/v1/preservations/{record.id}/bundle").status_code == 404
