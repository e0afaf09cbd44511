"""Contracts end to end at the service level: documents, routing, intent codes, signing, completion."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from qianshu.contracts import service as contracts_service
from qianshu.contracts.errors import (
    ContractExpired,
    ContractState,
    FieldInvalid,
    LinkInvalid,
    NotYourTurn,
    RecipientInvalid,
    SignerAccessRequired,
    SignerAlreadySigned,
)
from qianshu.contracts.schemas import ContractCreate, SignIn, TemplateCreate, TemplateFill
from qianshu.core.runtime import Runtime
from qianshu.signing import errors as signing_errors
from qianshu.signing import service as signing_service
from tests.contracts.conftest import Sent
from tests.support.corpus import corpus_file
from tests.support.live import pdfsig_trusting

PHONE_A, PHONE_B, PHONE_C = "13800138001", "13800138002", "13800138003"
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成如下协议，合同金额人民币{{金额}}元。"


def _document(runtime: Runtime, owner: str, values: dict[str, str] | None = None) -> str:
    with runtime.transaction() as s:
        tpl = contracts_service.create_template(
            session=s, clock=runtime.clock, owner_id=owner, data=TemplateCreate(title="服务合同", body=BODY)
        )
        doc = contracts_service.document_from_template(
            session=s,
            clock=runtime.clock,
            owner_id=owner,
            template_id=tpl.id,
            data=TemplateFill(values=values or {"甲方": "张三", "乙方": "李四", "事项": "软件开发", "金额": "10000"}),
        )
    return doc.id


def _signer(phone: str, order: int = 1, y: float = 100) -> dict[str, Any]:
    return {
        "phone": phone,
        "routing_order": order,
        "fields": [
            {"kind": "signature", "page": 0, "x1": 80, "y1": y, "x2": 240, "y2": y + 70},
            {"kind": "date", "page": 0, "x1": 300, "y1": y, "x2": 400, "y2": y + 20, "required": False},
        ],
    }


def _contract(runtime: Runtime, owner: str, signers: list[dict[str, Any]], **extra: Any) -> tuple[str, dict[str, str]]:
    doc = _document(runtime, owner)
    with runtime.transaction() as s:
        ctr = contracts_service.create_contract(
            session=s,
            clock=runtime.clock,
            owner_id=owner,
            data=ContractCreate.model_validate({"document_id": doc, "recipients": signers, **extra}),
        )
        sent = contracts_service.send_contract(session=s, clock=runtime.clock, owner_id=owner, contract_id=ctr.id)
    links = {r.id: link.url.rsplit("/", 1)[1] for r, link in zip(sent.contract.recipients, sent.links, strict=True)}
    return ctr.id, {_phone_of(sent, rid, signers): tok for rid, tok in links.items()}


def _phone_of(sent: Any, rid: str, signers: list[dict[str, Any]]) -> str:
    index = [r.id for r in sent.contract.recipients].index(rid)
    recipient = sent.contract.recipients[index]
    matches = [s["phone"] for s in signers if s["phone"][-4:] == recipient.contact_masked[-4:]]
    return str(matches[0])


def _sign(runtime: Runtime, sent: Sent, token: str, phone: str, *, user: str | None = None) -> None:
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=user)
    code = sent.code(phone, "otp_contract_sign")
    with runtime.transaction() as s:
        contracts_service.sign(session=s, clock=runtime.clock, token=token, data=SignIn(code=code), user_id=user)


def _status(runtime: Runtime, contract_id: str, owner: str) -> str:
    with runtime.transaction() as s:
        return contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner).status


# --- documents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("enc_user_aes128.pdf", signing_errors.PdfEncrypted),
        ("truncated_no_startxref_184b.pdf", signing_errors.PdfCorrupt),
        ("actions_launch.pdf", signing_errors.PdfActiveContent),
    ],
)
def test_upload_refuses_bad_pdfs_and_stores_nothing(runtime: Runtime, name: str, error: type[Exception]) -> None:
    data = corpus_file(name)
    with runtime.transaction() as s, pytest.raises(error):
        contracts_service.upload_document(session=s, clock=runtime.clock, owner_id="usr_" + "a" * 20, data=data)
    with runtime.transaction() as s:
        assert contracts_service.list_documents(session=s, owner_id="usr_" + "a" * 20) == []


def test_upload_refuses_a_file_that_is_not_a_pdf(runtime: Runtime) -> None:
    with runtime.transaction() as s, pytest.raises(signing_errors.PdfNotPdf):
        contracts_service.upload_document(session=s, clock=runtime.clock, owner_id="usr_" + "a" * 20, data=b"hello")


def test_upload_records_page_boxes_and_keeps_the_file_encrypted(runtime: Runtime) -> None:
    data = corpus_file("valid_simple_pdflatex_4pages.pdf")
    owner = "usr_" + "b" * 20
    with runtime.transaction() as s:
        doc = contracts_service.upload_document(
            session=s, clock=runtime.clock, owner_id=owner, data=data, title="租赁合同"
        )
    assert len(doc.pages) == 4 and doc.pages[0].x2 > 500
    with runtime.transaction() as s:
        assert contracts_service.document_pdf(session=s, document_id=doc.id, owner_id=owner) == data
    stored = b"".join(p.read_bytes() for p in runtime.settings.blobs_dir.rglob("*") if p.is_file())
    assert b"%PDF" not in stored


def test_template_is_reused_with_different_values(runtime: Runtime) -> None:
    owner = "usr_" + "c" * 20
    first = _document(runtime, owner, {"甲方": "张三", "乙方": "李四", "事项": "开发", "金额": "1"})
    second = _document(runtime, owner, {"甲方": "王五", "乙方": "赵六", "事项": "运维", "金额": "2"})
    with runtime.transaction() as s:
        a = contracts_service.document_pdf(session=s, document_id=first, owner_id=owner)
        b = contracts_service.document_pdf(session=s, document_id=second, owner_id=owner)
    assert a != b and a.startswith(b"%PDF")
    with runtime.transaction() as s, pytest.raises(Exception, match="Values missing"):
        tpl = contracts_service.list_templates(session=s, viewer_id=owner)[0]
        contracts_service.document_from_template(
            session=s,
            clock=runtime.clock,
            owner_id=owner,
            template_id=tpl.id,
            data=TemplateFill(values={"甲方": "x"}),
        )


# --- fields and recipients ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signers", "error"),
    [
        (
            [
                {
                    **_signer(PHONE_A),
                    "fields": [{"kind": "signature", "page": 5, "x1": 1, "y1": 1, "x2": 99, "y2": 99}],
                }
            ],
            FieldInvalid,
        ),
        (
            [
                {
                    **_signer(PHONE_A),
                    "fields": [{"kind": "signature", "page": 0, "x1": 500, "y1": 1, "x2": 900, "y2": 99}],
                }
            ],
            FieldInvalid,
        ),
        ([{"phone": PHONE_A, "role": "cc"}], RecipientInvalid),
        ([{"fields": _signer(PHONE_A)["fields"]}], RecipientInvalid),
        ([{**_signer(PHONE_A), "phone": "12345"}], RecipientInvalid),
        ([{**_signer(PHONE_A), "fields": []}], RecipientInvalid),
    ],
)
def test_create_refuses_bad_fields_and_recipients(
    runtime: Runtime, signers: list[dict[str, Any]], error: type[Exception]
) -> None:
    owner = "usr_" + "d" * 20
    doc = _document(runtime, owner)
    with runtime.transaction() as s, pytest.raises(error):
        contracts_service.create_contract(
            session=s,
            clock=runtime.clock,
            owner_id=owner,
            data=ContractCreate.model_validate({"document_id": doc, "recipients": signers}),
        )


# --- signing --------------------------------------------------------------------------------


def _pdfsig_and_qpdf(runtime: Runtime, pdf: bytes, tmp: Path) -> str:
    from qianshu.pki import service as pki_service

    with runtime.transaction() as s:
        root = pki_service.pem(pki_service.root_certificate_der(session=s))
    (tmp / "signed.pdf").write_bytes(pdf)
    assert subprocess.run(["qpdf", "--check", str(tmp / "signed.pdf")], capture_output=True).returncode == 0
    return pdfsig_trusting(tmp / "signed.pdf", root, tmp)


def test_two_signers_in_sequence_complete_a_validating_contract(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent, tmp_path: Path, run_jobs: Callable[[], int]
) -> None:
    owner = make_person("13900139000", verified=False)
    a, b = make_person(PHONE_A, name="张三"), make_person(PHONE_B, name="李四")
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A, 1, 100), _signer(PHONE_B, 2, 200)])
    with runtime.transaction() as s, pytest.raises(NotYourTurn):
        contracts_service.sign(
            session=s, clock=runtime.clock, token=links[PHONE_B], data=SignIn(code="000000"), user_id=b
        )
    _sign(runtime, sent, links[PHONE_A], PHONE_A, user=a)
    assert _status(runtime, contract_id, owner) == "sent"
    # B proves the phone by code rather than a session.
    with runtime.transaction() as s:
        contracts_service.request_access_code(session=s, clock=runtime.clock, token=links[PHONE_B])
    with runtime.transaction() as s:
        access = contracts_service.grant_access(
            session=s,
            clock=runtime.clock,
            token=links[PHONE_B],
            code=sent.code(PHONE_B, "otp_contract_access"),
        ).access
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=links[PHONE_B], access=access)
    with runtime.transaction() as s:
        contracts_service.sign(
            session=s,
            clock=runtime.clock,
            token=links[PHONE_B],
            access=access,
            data=SignIn(code=sent.code(PHONE_B, "otp_contract_sign")),
        )
    assert _status(runtime, contract_id, owner) == "completed"
    with runtime.transaction() as s:
        pdf = contracts_service.contract_pdf(session=s, contract_id=contract_id, owner_id=owner)
        roots = signing_service.trust_roots(runtime=runtime, session=s)
    report = signing_service.validate_pdf(pdf, trust_roots=roots)
    assert report.ok and len(report.signatures) == 2
    assert all(sig.intact and sig.trusted for sig in report.signatures)
    assert report.document_timestamps and report.document_timestamps[0].ok
    assert str(sent.last(PHONE_A, "contract_completed")["params"]["contract"]) == contract_id
    if shutil.which("pdfsig"):
        out = _pdfsig_and_qpdf(runtime, pdf, tmp_path)
        assert out.count("Signature is Valid.") == 2
        # Certificate trust needs NSS to reach our OCSP responder at wall-clock time (see
        # tests/signing/test_interop.py); this FrozenClock test checks the signatures themselves.
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"contract:{contract_id}")]
    assert (
        actions[0] == "contract.created" and actions.count("contract.signed") == 2 and "contract.completed" in actions
    )
    run_jobs()


def test_intent_code_is_required_and_single_use(runtime: Runtime, make_person: Callable[..., str], sent: Sent) -> None:
    owner = make_person("13900139000", verified=False)
    a = make_person(PHONE_A)
    _contract_id, links = _contract(runtime, owner, [_signer(PHONE_A), _signer(PHONE_C)])
    token = links[PHONE_A]
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=a)
    code = sent.code(PHONE_A, "otp_contract_sign")
    wrong = "000000" if code != "000000" else "111111"
    with runtime.transaction() as s, pytest.raises(Exception, match="Wrong code"):
        contracts_service.sign(session=s, clock=runtime.clock, token=token, data=SignIn(code=wrong), user_id=a)
    with runtime.transaction() as s:
        contracts_service.sign(session=s, clock=runtime.clock, token=token, data=SignIn(code=code), user_id=a)
    with runtime.transaction() as s, pytest.raises(SignerAlreadySigned):
        contracts_service.sign(session=s, clock=runtime.clock, token=token, data=SignIn(code=code), user_id=a)


def test_signing_needs_verification_and_proof_of_contact(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent
) -> None:
    owner = make_person("13900139000", verified=False)
    unverified = make_person(PHONE_A, verified=False)
    other = make_person(PHONE_B)
    _unused, links = _contract(runtime, owner, [_signer(PHONE_A)])
    token = links[PHONE_A]
    with runtime.transaction() as s, pytest.raises(SignerAccessRequired):
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token)
    with runtime.transaction() as s, pytest.raises(Exception, match="not this link's recipient"):
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=other)
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=unverified)
    code = sent.code(PHONE_A, "otp_contract_sign")
    with runtime.transaction() as s, pytest.raises(Exception) as info:
        contracts_service.sign(session=s, clock=runtime.clock, token=token, data=SignIn(code=code), user_id=unverified)
    assert getattr(info.value, "status", None) == 403
    with runtime.transaction() as s, pytest.raises(LinkInvalid):
        contracts_service.view_link(session=s, clock=runtime.clock, token="x" * 43)


def test_revoked_and_expired_contracts_cannot_be_signed(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent, clock: Any, run_jobs: Callable[[], int]
) -> None:
    owner = make_person("13900139000", verified=False)
    a = make_person(PHONE_A)
    revoked, links = _contract(runtime, owner, [_signer(PHONE_A)])
    with runtime.transaction() as s:
        contracts_service.revoke_contract(
            session=s, clock=runtime.clock, owner_id=owner, contract_id=revoked, reason="条款有误"
        )
    with runtime.transaction() as s, pytest.raises(ContractState):
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=links[PHONE_A], user_id=a)
    deadline = clock.now() + timedelta(days=1)
    expiring, links = _contract(runtime, owner, [_signer(PHONE_A)], deadline=deadline.isoformat())
    clock.advance(timedelta(days=2))
    with runtime.transaction() as s, pytest.raises(ContractExpired):
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=links[PHONE_A], user_id=a)
    run_jobs()
    assert _status(runtime, expiring, owner) == "expired"


def test_decline_ends_the_contract(runtime: Runtime, make_person: Callable[..., str], sent: Sent) -> None:
    owner = make_person("13900139000", verified=False)
    a = make_person(PHONE_A)
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A), _signer(PHONE_B)])
    with runtime.transaction() as s:
        contracts_service.decline(session=s, clock=runtime.clock, token=links[PHONE_A], reason="金额不对", user_id=a)
    assert _status(runtime, contract_id, owner) == "declined"


def test_parallel_signers_signing_at_once_both_survive(
    runtime: Runtime, make_person: Callable[..., str], sent: Sent
) -> None:
    owner = make_person("13900139000", verified=False)
    users = {PHONE_A: make_person(PHONE_A), PHONE_B: make_person(PHONE_B)}
    contract_id, links = _contract(runtime, owner, [_signer(PHONE_A, 1, 100), _signer(PHONE_B, 1, 200)])
    codes = {}
    for phone in (PHONE_A, PHONE_B):
        with runtime.transaction() as s:
            contracts_service.request_intent_code(
                session=s, clock=runtime.clock, token=links[phone], user_id=users[phone]
            )
        codes[phone] = sent.code(phone, "otp_contract_sign")
    barrier, errors = threading.Barrier(2), []

    def go(phone: str) -> None:
        try:
            barrier.wait()
            with runtime.transaction() as s:
                contracts_service.sign(
                    session=s,
                    clock=runtime.clock,
                    token=links[phone],
                    data=SignIn(code=codes[phone]),
                    user_id=users[phone],
                )
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(p,)) for p in (PHONE_A, PHONE_B)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert _status(runtime, contract_id, owner) == "completed"
    with runtime.transaction() as s:
        pdf = contracts_service.contract_pdf(session=s, contract_id=contract_id, owner_id=owner)
        roots = signing_service.trust_roots(runtime=runtime, session=s)
    report = signing_service.validate_pdf(pdf, trust_roots=roots)
    assert report.ok and len(report.signatures) == 2
