"""The offline verifier: the happy path, one bad input per failing step, the CLI and the /verify page.

Bad inputs are made here from one good bundle, each named for its fault (STYLE rule 20). A careful
forger also rewrites the manifest, so each fault is caught by the step that owns it, not step (1).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from qianshu import bootstrap
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput, VerificationFailed
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import bundle, checkpoint, preservation, reports, translog
from qianshu.evidence.verifier import STEPS, verify_bundle
from qianshu.pki import service as pki_service
from tests.evidence import evidence_support
from tests.evidence.evidence_support import canonical_manifest, csrf, member, read_zip, rewrite, write_zip
from tests.support.corpus import corpus_file

client_as = evidence_support.client_as  # the shared fixture

CONTENT = "股权转让协议（示例）".encode() * 40
STEP = {s.key: str(s) for s in STEPS}


@dataclass(frozen=True)
class Kit:
    """A good bundle (with an issued report) and the trust anchors it verifies against."""

    bundle: bytes
    root_pem: bytes
    log_key: str
    certificate_pdf: bytes


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    """Build one bundle on a private SQLite runtime: the verifier itself needs no database."""
    data_dir = tmp_path_factory.mktemp("verifier")
    settings = Settings(data_dir=data_dir, public_base_url="http://testserver", worker_in_process=False, demo=False)
    runtime = Runtime(settings, clock=FrozenClock())
    bootstrap.prepare(runtime)
    try:
        owner = new_id("usr")
        record = preservation.submit_file(runtime=runtime, owner_id=owner, stream=CONTENT, media_type="text/plain")
        with runtime.transaction() as session:
            requested = reports.request_report(
                session=session,
                clock=runtime.clock,
                requester_id=owner,
                subject_kind="preservation",
                subject_id=record.id,
            )
        reports.approve_and_issue(runtime=runtime, report_id=requested.id, operator_id=new_id("usr"))
        with runtime.transaction() as session:
            data = bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id)
            root = pki_service.pem(pki_service.root_certificate_der(session=session)).encode()
            certificate = preservation.certificate_bytes(session=session, preservation_id=record.id, viewer_id=owner)
        yield Kit(bundle=data, root_pem=root, log_key=translog.verifier_key(runtime), certificate_pdf=certificate)
    finally:
        runtime.close()


def _other_root() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another Root CA")])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM)


def _other_log_key(origin: str) -> str:
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return checkpoint.verifier_key_string(origin, public)


def _fails_at(kit: Kit, data: bytes, step: str, *, root: bytes | None = None, log_key: str | None = None) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify_bundle(data, root=root or kit.root_pem, log_key=log_key or kit.log_key)
    assert caught.value.step == STEP[step], (caught.value.step, caught.value.reason)
    return caught.value.reason


# --- the good bundle --------------------------------------------------------------------------


def test_a_good_bundle_passes_every_step_in_order(kit: Kit) -> None:
    seen: list[str] = []
    report = verify_bundle(
        kit.bundle, root=kit.root_pem, log_key=kit.log_key, progress=lambda r: seen.append(r.step.key)
    )
    assert seen == [s.key for s in STEPS] == [r.step.key for r in report.steps]
    assert report.subject_kind == "preservation" and report.tree_size == 2
    assert (
        report.steps[6].details
        == [
            "subject/preservation-certificate.pdf: 1 signature(s) valid",
            *[d for d in report.steps[6].details if d.startswith("report/")],
        ]
        and len(report.steps[6].details) == 2
    )


def test_the_root_may_be_given_as_der(kit: Kit) -> None:
    der = x509.load_pem_x509_certificate(kit.root_pem).public_bytes(Encoding.DER)
    verify_bundle(kit.bundle, root=der, log_key=kit.log_key)


# --- one fault per step -----------------------------------------------------------------------


def test_bundle_tampered_original_fails_the_manifest(kit: Kit) -> None:
    path = member(kit.bundle, "subject/original")
    tampered = rewrite(kit.bundle, path, CONTENT[:-1] + b"!", fix_manifest=False)  # same size, one byte off
    assert "does not match the manifest" in _fails_at(kit, tampered, "manifest")
    longer = rewrite(kit.bundle, path, CONTENT + b"!", fix_manifest=False)
    assert "the manifest says" in _fails_at(kit, longer, "manifest")


def test_bundle_tampered_original_with_forged_manifest_fails_the_time_stamp(kit: Kit) -> None:
    path = member(kit.bundle, "subject/original")
    forged = rewrite(kit.bundle, path, CONTENT.replace("股权".encode(), "债权".encode()))
    assert "does not time-stamp" in _fails_at(kit, forged, "timestamps")


def test_bundle_checked_with_the_wrong_root_fails_the_time_stamp(kit: Kit) -> None:
    assert "not trusted" in _fails_at(kit, kit.bundle, "timestamps", root=_other_root())


def test_bundle_with_a_foreign_certificate_fails_the_certificate_paths(kit: Kit) -> None:
    members = read_zip(kit.bundle)
    manifest = json.loads(members["manifest.json"])
    foreign = _other_root()
    members["certificates/foreign.pem"] = foreign
    manifest["files"].append(
        {
            "path": "certificates/foreign.pem",
            "sha256": hashlib.sha256(foreign).hexdigest(),
            "size": len(foreign),
            "role": "certificate",
        }
    )
    members["manifest.json"] = canonical_manifest(manifest)
    assert "does not chain to the root" in _fails_at(kit, write_zip(members), "certificates")


def test_bundle_broken_audit_chain_fails_the_audit_step(kit: Kit) -> None:
    path = member(kit.bundle, "audit/")
    audit = json.loads(read_zip(kit.bundle)[path])
    audit["events"][0]["actor"] = "usr_00000000000000000000"  # history rewritten
    assert "event edited" in _fails_at(kit, rewrite(kit.bundle, path, json.dumps(audit).encode()), "audit")
    audit = json.loads(read_zip(kit.bundle)[path])
    del audit["events"][1]  # an event removed
    assert "missing or out of order" in _fails_at(kit, rewrite(kit.bundle, path, json.dumps(audit).encode()), "audit")


def test_bundle_bad_inclusion_proof_fails_the_inclusion_step(kit: Kit) -> None:
    path = "log/proofs/preservation.json"
    proof = json.loads(read_zip(kit.bundle)[path])
    proof["hashes"][0] = "00" * 32
    assert "RFC 9162" in _fails_at(kit, rewrite(kit.bundle, path, json.dumps(proof).encode()), "inclusion")


def test_bundle_forged_log_entry_fails_the_inclusion_step(kit: Kit) -> None:
    path = "log/entries/preservation.json"
    entry = json.loads(read_zip(kit.bundle)[path])
    entry["sha256"] = "ab" * 32
    body = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    _fails_at(kit, rewrite(kit.bundle, path, body), "inclusion")


def test_bundle_bad_checkpoint_signature_fails_the_checkpoint_step(kit: Kit) -> None:
    note = read_zip(kit.bundle)["log/checkpoint.txt"].decode()
    text, signature_line = note.rsplit("\n\n", 1)
    dash, name, blob = signature_line.strip().split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01
    forged = f"{text}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    reason = _fails_at(kit, rewrite(kit.bundle, "log/checkpoint.txt", forged.encode()), "checkpoint")
    assert "does not verify" in reason


def test_bundle_checked_with_another_log_key_fails_the_checkpoint_step(kit: Kit) -> None:
    origin = kit.log_key.split("+", 1)[0]
    assert "no signature by a trusted key" in _fails_at(kit, kit.bundle, "checkpoint", log_key=_other_log_key(origin))


def test_bundle_altered_signed_pdf_fails_the_pdf_step(kit: Kit) -> None:
    pdf = bytearray(kit.certificate_pdf)
    at = pdf.find(b"/Producer")
    at = at if at > 0 else len(pdf) // 3
    pdf[at + 1] ^= 0x20  # one byte inside the signed range
    forged = rewrite(kit.bundle, "subject/preservation-certificate.pdf", bytes(pdf))
    _fails_at(kit, forged, "pdf")


@pytest.mark.parametrize(
    "fault",
    ["not_a_zip", "no_manifest", "unlisted_file", "path_traversal", "missing_file", "bad_manifest_json"],
)
def test_malformed_bundles_fail_the_manifest_step(kit: Kit, fault: str) -> None:
    members = read_zip(kit.bundle)
    if fault == "not_a_zip":
        data = b"%PDF-1.7 not a zip"
    elif fault == "no_manifest":
        data = write_zip({k: v for k, v in members.items() if k != "manifest.json"})
    elif fault == "unlisted_file":
        data = write_zip({**members, "extra.txt": b"smuggled"})
    elif fault == "path_traversal":
        data = write_zip({**members, "../evil.txt": b"x"})
    elif fault == "missing_file":
        data = write_zip({k: v for k, v in members.items() if k != "log/checkpoint.txt"})
    else:
        data = write_zip({**members, "manifest.json": b"{not json"})
    _fails_at(kit, data, "manifest")


def test_malformed_trust_anchors_are_input_errors(kit: Kit) -> None:
    with pytest.raises(InvalidInput):
        verify_bundle(kit.bundle, root=kit.root_pem, log_key="not-a-key")
    with pytest.raises(InvalidInput):
        verify_bundle(kit.bundle, root=b"garbage", log_key=kit.log_key)


def test_the_verifier_imports_neither_the_web_framework_nor_the_database() -> None:
    code = (
        "import sys, qianshu.evidence.verifier\n"
        "roots = ('fastapi', 'starlette', 'sqlalchemy', 'alembic')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""


# --- the CLI --------------------------------------------------------------------------------


def test_cli_verify_prints_every_step_and_exits_zero(kit: Kit, tmp_path: Path) -> None:
    from qianshu.cli import app

    (tmp_path / "bundle.zip").write_bytes(kit.bundle)
    (tmp_path / "root.pem").write_bytes(kit.root_pem)
    (tmp_path / "log.key").write_text(kit.log_key + "\n")
    args = ["verify", str(tmp_path / "bundle.zip"), "--root", str(tmp_path / "root.pem")]
    result = CliRunner().invoke(app, [*args, "--log-key", kit.log_key])
    assert result.exit_code == 0, result.output
    assert all(f"✓ {s}" in result.output for s in STEPS) and "核验通过" in result.output
    from_file = CliRunner().invoke(app, [*args, "--log-key", str(tmp_path / "log.key")])
    assert from_file.exit_code == 0, from_file.output


def test_cli_verify_names_the_failed_step_and_exits_non_zero(kit: Kit, tmp_path: Path) -> None:
    from qianshu.cli import app

    path = member(kit.bundle, "audit/")
    audit = json.loads(read_zip(kit.bundle)[path])
    audit["events"][0]["action"] = "evidence.something_else"
    (tmp_path / "bundle.zip").write_bytes(rewrite(kit.bundle, path, json.dumps(audit).encode()))
    (tmp_path / "root.pem").write_bytes(kit.root_pem)
    result = CliRunner().invoke(
        app,
        [
            "verify",
            str(tmp_path / "bundle.zip"),
            "--root",
            str(tmp_path / "root.pem"),
            "--log-key",
            kit.log_key,
        ],
    )
    assert result.exit_code == 1
    assert "✓ (3) certificates" in result.output and f"✗ {STEP['audit']}" in result.output
    assert "✓ (4)" not in result.output


# --- the public verify page and API (E4) ------------------------------------------------------


def test_public_verify_api_checks_bundles_and_pdfs_without_an_account(runtime: Runtime, client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    owner = new_id("usr")
    record = preservation.submit_file(runtime=runtime, owner_id=owner, stream=CONTENT)
    with runtime.transaction() as session:
        data = bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id)
        pdf = preservation.certificate_bytes(session=session, preservation_id=record.id, viewer_id=owner)
    headers = csrf(client)
    good = client.post("/api/v1/verify", files={"file": ("b.zip", data, "application/zip")}, headers=headers)
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["ok"] and body["kind"] == "bundle" and body["subject_id"] == record.id
    assert [s["number"] for s in body["steps"]] == [1, 2, 3, 4, 5, 6, 7]
    path = member(data, "subject/original")
    tampered = rewrite(data, path, b"changed", fix_manifest=False)
    bad = client.post("/api/v1/verify", files={"file": ("b.zip", tampered, "application/zip")}, headers=headers)
    assert bad.status_code == 200 and bad.json()["ok"] is False and bad.json()["failed_step"] == STEP["manifest"]
    signed = client.post("/api/v1/verify", files={"file": ("c.pdf", pdf, "application/pdf")}, headers=headers)
    assert signed.json()["ok"] and signed.json()["kind"] == "pdf"
    junk = client.post("/api/v1/verify", files={"file": ("x.txt", b"hello", "text/plain")}, headers=headers)
    assert junk.status_code == 422 and junk.headers["content-type"].startswith("application/problem+json")


def test_public_verify_page_shows_the_steps(runtime: Runtime, client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    record = preservation.submit_hash(runtime=runtime, owner_id=new_id("usr"), sha256="9a" * 32)
    with runtime.transaction() as session:
        data = bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id)
    page = client.get("/verify")
    assert page.status_code == 200 and "证据核验" in page.text
    shown = client.post("/verify", files={"file": ("b.zip", data, "application/zip")}, headers=csrf(client))
    assert shown.status_code == 200 and "verify-ok" in shown.text and "透明日志包含证明" in shown.text
    empty = client.post("/verify", files={"file": ("x.bin", b"??", "application/octet-stream")}, headers=csrf(client))
    assert empty.status_code == 422 and "请上传证据包" in empty.text


@pytest.mark.parametrize(
    "name",
    [
        "truncated_no_startxref_184b.pdf",
        "cyclic_page_tree.pdf",
        "actions_launch.pdf",
        "valid_simple_minimal_pyhanko.pdf",
    ],
)
def test_public_verify_answers_hostile_or_unsigned_pdfs_without_a_500(
    runtime: Runtime, client: object, name: str
) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    res = client.post(
        "/api/v1/verify", files={"file": (name, corpus_file(name), "application/pdf")}, headers=csrf(client)
    )
    assert res.status_code in (200, 413, 422), res.text
    if res.status_code == 200:
        assert res.json()["ok"] is False  # no signature, or none that verifies
    else:
        assert res.headers["content-type"].startswith("application/problem+json")
