"""A completed contract as an evidence subject: report and bundle, checked by the offline verifier."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

import pytest

from qianshu.contracts import service as contracts_service
from qianshu.contracts.errors import ContractState
from qianshu.core.errors import NotFound, VerificationFailed
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import bundle, reports, translog
from qianshu.evidence.verifier import verify_bundle
from qianshu.pki import service as pki_service
from tests.contracts.conftest import Sent
from tests.contracts.test_service import PHONE_A, PHONE_B, _contract, _sign, _signer


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _flip(data: bytes, path: str) -> bytes:
    members = _members(data)
    raw = bytearray(members[path])
    raw[len(raw) // 2] ^= 0x01
    members[path] = bytes(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def test_a_party_gets_a_report_and_a_bundle_that_verifies_offline(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent
) -> None:
    owner = make_person("13900139000", verified=False)
    a, b = make_person(PHONE_A, name="张三"), make_person(PHONE_B, name="李四")
    stranger = make_person("13700137000", verified=False)
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A, 1, 100), _signer(PHONE_B, 1, 200)])
    with runtime.transaction() as s:
        assert contracts_service.evidence_subject(session=s, subject_id=contract_id) is None  # not completed
        with pytest.raises(ContractState):
            contracts_service.evidence_material(session=s, subject_id=contract_id)
        with pytest.raises(NotFound):
            reports.request_report(
                session=s, clock=runtime.clock, requester_id=a, subject_kind="contract", subject_id=contract_id
            )
    _sign(runtime, sent, links[PHONE_A], PHONE_A, user=a)
    _sign(runtime, sent, links[PHONE_B], PHONE_B, user=b)
    translog.sequence_pending(runtime)

    with runtime.transaction() as s:
        subject = contracts_service.evidence_subject(session=s, subject_id=contract_id)
        assert subject is not None and subject.kind == "contract" and subject.title == "服务合同"
        assert set(subject.parties) == {owner, a, b}
        material = contracts_service.evidence_material(session=s, subject_id=contract_id)
        assert [f.role for f in material.files] == ["original", "signed_pdf"]
        assert len(material.certificate_ids) == 2
        # Two signature time-stamps and the B-LTA document time-stamp.
        assert sum(t.name.startswith("signature-") for t in material.timestamps) == 2
        assert any(t.name.startswith("document-") for t in material.timestamps)
        # Only parties may ask.
        with pytest.raises(NotFound):
            reports.request_report(
                session=s, clock=runtime.clock, requester_id=stranger, subject_kind="contract", subject_id=contract_id
            )
        requested = reports.request_report(
            session=s, clock=runtime.clock, requester_id=b, subject_kind="contract", subject_id=contract_id
        )
    issued = reports.approve_and_issue(runtime=runtime, report_id=requested.id, operator_id=new_id("usr"))
    assert issued.status == "issued"
    translog.sequence_pending(runtime)
    with runtime.transaction() as s:
        name, data = reports.download_bundle(session=s, clock=runtime.clock, report_id=requested.id, viewer_id=b)
        root = pki_service.pem(pki_service.root_certificate_der(session=s)).encode()
        trail = contracts_service.contract_events(session=s, contract_id=contract_id, owner_id=owner)
        events = [e.action for e in trail]
    assert name == f"evidence-contract-{contract_id}.zip"
    assert "evidence.report_requested" in events and "contract.completed" in events

    members = _members(data)
    manifest = json.loads(members["manifest.json"])
    assert manifest["subject"] == {"kind": "contract", "id": contract_id}
    assert {"subject/original.pdf", "subject/signed.pdf", f"report/{requested.id}.pdf"} <= set(members)
    assert f"audit/contract-{contract_id}.json" in members
    entry = json.loads(members["log/entries/contract.json"])
    assert entry["contract_id"] == contract_id and entry["type"] == "contract.completed"

    log_key = translog.verifier_key(runtime)
    report = verify_bundle(data, root=root, log_key=log_key)
    assert report.subject_kind == "contract" and report.subject_id == contract_id
    pdf_lines = report.steps[6].details
    assert "subject/signed.pdf: 2 signature(s) valid" in pdf_lines

    for path in ("subject/signed.pdf", "subject/original.pdf", f"audit/contract-{contract_id}.json"):
        with pytest.raises(VerificationFailed) as caught:
            verify_bundle(_flip(data, path), root=root, log_key=log_key)
        assert caught.value.step == "(1) manifest", caught.value.reason


def test_the_bundle_waits_for_the_log(runtime: Runtime, make_person: Callable[..., str], sent: Sent) -> None:
    owner = make_person("13900139000", verified=False)
    a = make_person(PHONE_A)
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A)])
    _sign(runtime, sent, links[PHONE_A], PHONE_A, user=a)
    with runtime.transaction() as s, pytest.raises(bundle.BundleNotReady):
        bundle.build_bundle(session=s, subject_kind="contract", subject_id=contract_id)
