"""Preservation (存证): by file and by hash, through the service, the API and the page (E1, E2)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import cms
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import preservation, translog
from qianshu.evidence import service as evidence_service
from qianshu.evidence.verifier.tokens import read_token
from qianshu.pki import service as pki_service
from qianshu.signing import service as signing_service
from qianshu.signing.schemas import PadesLevel
from tests.evidence import evidence_support
from tests.evidence.evidence_support import ClientAs, csrf

client_as = evidence_support.client_as  # the shared fixture

CONTENT = "甲方与乙方就房屋租赁达成如下协议……".encode() * 50


def _owner() -> str:
    return new_id("usr")


# --- service --------------------------------------------------------------------------------


def test_preserve_file_stores_encrypted_time_stamps_logs_and_certifies(runtime: Runtime) -> None:
    owner = _owner()
    record = preservation.submit_file(
        runtime=runtime, owner_id=owner, stream=CONTENT, media_type="text/plain", label="租赁协议.txt"
    )
    digest = hashlib.sha256(CONTENT).hexdigest()
    assert record.kind == "file" and record.sha256 == digest and record.size == len(CONTENT)
    assert record.status == "certified" and record.log_index is not None and record.label == "租赁协议.txt"

    with runtime.transaction() as session:
        facts = read_token(_token(session, record.id))
        assert facts.imprint.hex() == digest and facts.gen_time == runtime.clock.now()
        body = translog.get_entry(session=session, index=record.log_index)
        assert body is not None
        entry = json.loads(body)
        assert entry["type"] == "preservation" and entry["id"] == record.id and entry["sha256"] == digest
        events = evidence_service.list_events(session=session, stream=preservation.stream_of(record.id))
        assert [e.action for e in events] == [
            "evidence.preservation_created",
            "evidence.preservation_certified",
        ]
        assert entry["audit_head"] == events[0].event_hash
        original = preservation.original_bytes(session=session, preservation_id=record.id, viewer_id=owner)
    assert original == CONTENT
    stored = b"".join(p.read_bytes() for p in runtime.settings.blobs_dir.rglob("*") if p.is_file())
    assert stored and CONTENT[:60] not in stored  # the blob store holds ciphertext only (E1)


def _token(session: Session, preservation_id: str) -> bytes:
    from sqlalchemy import select

    from qianshu.evidence.models import Preservation

    token = session.scalar(select(Preservation.tst).where(Preservation.id == preservation_id))
    assert token is not None
    return token


def test_preserve_hash_keeps_no_file_and_is_certified_by_the_job(
    runtime: Runtime, session: Session, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    owner = _owner()
    digest = hashlib.sha256(b"kept by the user").hexdigest()
    record = preservation.preserve_hash(
        session=session, clock=clock, owner_id=owner, sha256=digest.upper(), label="我自己保管的文件"
    )
    session.commit()
    assert record.kind == "hash" and record.sha256 == digest and not record.has_file
    assert record.status == "pending" and record.log_index is None
    run_jobs()  # the log sequences the entry, then the certify job signs the certificate
    found = preservation.get_preservation_or_raise(session=session, preservation_id=record.id, viewer_id=owner)
    assert found.status == "certified" and found.log_index == 0
    with pytest.raises(NotFound):  # only the hash was preserved
        preservation.original_bytes(session=session, preservation_id=record.id, viewer_id=owner)


@pytest.mark.parametrize(
    ("sha256", "label"),
    [("abc", None), ("g" * 64, None), ("0" * 63, None), ("0" * 64, "bad\x00label"), ("0" * 64, "x" * 201)],
)
def test_preserve_hash_rejects_bad_input(session: Session, clock: FrozenClock, sha256: str, label: str | None) -> None:
    with pytest.raises(InvalidInput):
        preservation.preserve_hash(session=session, clock=clock, owner_id=_owner(), sha256=sha256, label=label)


def test_preserve_refuses_an_empty_file_and_a_bad_owner(session: Session, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput):
        preservation.preserve_file(session=session, clock=clock, owner_id=_owner(), stream=b"")
    with pytest.raises(InvalidInput):
        preservation.preserve_hash(session=session, clock=clock, owner_id="someone", sha256="0" * 64)


def test_certify_is_idempotent_and_waits_for_the_log(runtime: Runtime, session: Session, clock: FrozenClock) -> None:
    record = preservation.preserve_hash(session=session, clock=clock, owner_id=_owner(), sha256="1" * 64)
    session.commit()
    assert preservation.certify(session=session, preservation_id=record.id) is None  # not sequenced yet
    session.commit()
    translog.sequence_pending(runtime)
    first = preservation.certify(session=session, preservation_id=record.id)
    session.commit()
    second = preservation.certify(session=session, preservation_id=record.id)
    assert first is not None and second is not None
    assert first.certificate_sha256 == second.certificate_sha256


def test_certificate_is_signed_by_the_platform_to_b_lta(runtime: Runtime, tmp_path: Path) -> None:
    owner = _owner()
    record = preservation.submit_file(runtime=runtime, owner_id=owner, stream=CONTENT, label="合同.pdf")
    with runtime.transaction() as session:
        pdf = preservation.certificate_bytes(session=session, preservation_id=record.id, viewer_id=owner)
        roots = signing_service.trust_roots(runtime=runtime, session=session)
    report = signing_service.validate_pdf(pdf, trust_roots=roots)
    assert report.ok
    [sig] = report.signatures
    assert sig.signer_org == runtime.settings.operator_name and sig.pades_level == PadesLevel.B_LTA
    assert sig.chain[0].subject.count("NTRCN-") == 1  # an organisation certificate of our CA
    if shutil.which("pdftotext"):
        path = tmp_path / "certificate.pdf"
        path.write_bytes(pdf)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert "电子数据存证证书" in text and record.sha256 in text and record.tst_serial in text


def test_openssl_ts_verify_accepts_a_preservation_token(runtime: Runtime, tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    record = preservation.submit_hash(runtime=runtime, owner_id=_owner(), sha256=hashlib.sha256(b"x").hexdigest())
    with runtime.transaction() as session:
        token = _token(session, record.id)
        (tmp_path / "root.pem").write_text(pki_service.pem(pki_service.root_certificate_der(session=session)))
        (tmp_path / "chain.pem").write_text(pki_service.pem(pki_service.ca_chain(session=session)[0]))
    cms.ContentInfo.load(token)  # a bare TimeStampToken, as `-token_in` wants
    (tmp_path / "token.tst").write_bytes(token)
    args = [
        "openssl",
        "ts",
        "-verify",
        "-token_in",
        "-in",
        str(tmp_path / "token.tst"),
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "chain.pem"),
    ]
    good = subprocess.run([*args, "-digest", record.sha256], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "Verification: OK" in good.stdout, good.stdout + good.stderr
    other = hashlib.sha256(b"y").hexdigest()
    bad = subprocess.run([*args, "-digest", other], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0


# --- API ------------------------------------------------------------------------------------


def test_api_preserves_a_file_by_multipart(client_as: ClientAs) -> None:
    owner = client_as()
    res = owner.post(
        "/api/v1/preservations",
        files={"file": ("报价单.txt", CONTENT, "text/plain")},
        headers=csrf(owner),
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["sha256"] == hashlib.sha256(CONTENT).hexdigest() and body["label"] == "报价单.txt"
    assert body["status"] == "certified" and body["has_file"] is True
    cert = owner.get(f"/api/v1/preservations/{body['id']}/certificate")
    assert cert.status_code == 200 and cert.headers["content-type"] == "application/pdf"
    assert cert.content.startswith(b"%PDF-")
    listed = owner.get("/api/v1/preservations").json()
    assert [r["id"] for r in listed] == [body["id"]]
    assert owner.get(f"/api/v1/preservations/{body['id']}/original").content == CONTENT


def test_api_preserves_a_hash_by_json_and_hides_it_from_others(client_as: ClientAs) -> None:
    owner = client_as()
    digest = hashlib.sha256(b"my own copy").hexdigest()
    res = owner.post("/api/v1/preservations", json={"sha256": digest, "label": "私人文件"})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["kind"] == "hash" and body["sha256"] == digest and body["status"] == "certified"
    stranger = client_as()
    assert stranger.get(f"/api/v1/preservations/{body['id']}").status_code == 404
    assert stranger.get(f"/api/v1/preservations/{body['id']}/certificate").status_code == 404
    operator = client_as(role="operator")
    seen = operator.get(f"/api/v1/preservations/{body['id']}").json()
    assert seen["sha256"] == digest and seen["label"] is None  # staff do not see the owner's label
    assert owner.get(f"/api/v1/preservations/{body['id']}/original").status_code == 404


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"sha256": "nothex"}}, 422),
        ({"json": {"sha256": "0" * 64, "extra": 1}}, 422),
        ({"content": b"raw", "headers": {"content-type": "text/plain"}}, 400),
        ({"files": {"file": ("empty.txt", b"", "text/plain")}}, 422),
        ({"files": {"other": ("a.txt", b"a", "text/plain")}}, 422),
    ],
)
def test_api_refuses_bad_uploads_with_a_problem(client_as: ClientAs, kwargs: dict[str, object], status: int) -> None:
    owner = client_as()
    if "files" in kwargs:
        kwargs = {**kwargs, "headers": csrf(owner)}
    res = owner.post("/api/v1/preservations", **kwargs)  # type: ignore[arg-type]
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    assert owner.get("/api/v1/preservations").json() == []  # nothing half-written


def test_api_needs_a_signed_in_user(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    assert client.post("/api/v1/preservations", json={"sha256": "0" * 64}).status_code == 401


# --- page -----------------------------------------------------------------------------------


def test_page_preserves_a_file_and_shows_the_record(client_as: ClientAs) -> None:
    owner = client_as()
    page = owner.get("/evidence/preserve")
    assert page.status_code == 200 and "电子数据存证" in page.text
    res = owner.post(
        "/evidence/preserve",
        data={"mode": "file", "label": "会议纪要"},
        files={"file": ("minutes.txt", CONTENT, "text/plain")},
        headers=csrf(owner),
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    shown = owner.get(res.headers["location"])
    assert shown.status_code == 200
    assert hashlib.sha256(CONTENT).hexdigest() in shown.text and "会议纪要" in shown.text
    assert "存证成功" in shown.text and "download-certificate" in shown.text


def test_page_hash_mode_shows_a_readable_error(client_as: ClientAs) -> None:
    owner = client_as()
    res = owner.post("/evidence/preserve", data={"mode": "hash", "sha256": "123"}, headers=csrf(owner))
    assert res.status_code == 422 and "64 位十六进制" in res.text
