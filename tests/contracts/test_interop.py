"""A contract completed through the contracts service, checked by poppler's pdfsig and qpdf.

pdfsig asks the OCSP responder named in each certificate, so the platform is served for real on a
loopback port with the real clock (as in tests/signing/test_interop.py); the identity check uses
the served sandbox.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qianshu.contracts import service as contracts_service
from qianshu.contracts.schemas import ContractCreate, SignIn, TemplateCreate, TemplateFill
from qianshu.core.runtime import Runtime
from tests.contracts.conftest import PASSWORD, Sent
from tests.identity.conftest import make_id
from tests.support.live import base_url_of, pdfsig_trusting

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "qpdf", "certutil")),
    reason="poppler-utils, qpdf and libnss3-tools are needed",
)
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成如下协议。"
PHONES = ("13800138001", "13800138002")


@pytest.fixture
def settings_overrides(loopback_socket: socket.socket) -> dict[str, Any]:
    return {
        "public_base_url": base_url_of(loopback_socket),
        "signing_identity_level": "two_elements",
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "password_hash_parallelism": 1,
        "otp_resend_seconds": 0,
    }


def _person(runtime: Runtime, sent: Sent, phone: str, name: str | None, seq: str) -> str:
    from qianshu.accounts import service as accounts_service
    from qianshu.identity import levels
    from qianshu.identity.checks import verify_now

    with runtime.transaction() as s:
        accounts_service.start_registration(session=s, clock=runtime.clock, phone=phone)
    with runtime.transaction() as s:
        new = accounts_service.complete_registration(
            session=s,
            clock=runtime.clock,
            code=sent.code(phone, "otp_register"),
            password=PASSWORD,
            accept_policy_version=accounts_service.current_policy_version(session=s),
            phone=phone,
        )
        user_id = str(new.read.user.id)
    if name:
        with runtime.transaction() as s:
            verify_now(
                session=s,
                clock=runtime.clock,
                user_id=user_id,
                level="two_elements",
                name=name,
                id_number=make_id(seq=seq),
                grant=(levels.PURPOSE_ID_NUMBER,),
            )
    return user_id


def test_completed_contract_passes_pdfsig_with_trusted_signatures_and_qpdf(
    served: Runtime, sent: Sent, tmp_path: Path
) -> None:
    runtime = served
    owner = _person(runtime, sent, "13900139000", None, "100")
    users = {
        PHONES[0]: _person(runtime, sent, PHONES[0], "张三", "101"),
        PHONES[1]: _person(runtime, sent, PHONES[1], "李四", "102"),
    }
    with runtime.transaction() as s:
        tpl = contracts_service.create_template(
            session=s, clock=runtime.clock, owner_id=owner, data=TemplateCreate(title="服务合同", body=BODY)
        )
        doc = contracts_service.document_from_template(
            session=s,
            clock=runtime.clock,
            owner_id=owner,
            template_id=tpl.id,
            data=TemplateFill(values={"甲方": "张三", "乙方": "李四", "事项": "软件开发"}),
        )
        signers = [
            {
                "phone": phone,
                "routing_order": i + 1,
                "fields": [
                    {
                        "kind": "signature",
                        "page": 0,
                        "x1": 80 + 220 * i,
                        "y1": 90,
                        "x2": 260 + 220 * i,
                        "y2": 160,
                    }
                ],
            }
            for i, phone in enumerate(PHONES)
        ]
        ctr = contracts_service.create_contract(
            session=s,
            clock=runtime.clock,
            owner_id=owner,
            data=ContractCreate.model_validate({"document_id": doc.id, "recipients": signers}),
        )
        contracts_service.send_contract(session=s, clock=runtime.clock, owner_id=owner, contract_id=ctr.id)
    for phone in PHONES:
        token = str(sent.last(phone, "contract_sign_request")["params"]["token"])
        with runtime.transaction() as s:
            contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=users[phone])
        with runtime.transaction() as s:
            contracts_service.sign(
                session=s,
                clock=runtime.clock,
                token=token,
                data=SignIn(code=sent.code(phone, "otp_contract_sign")),
                user_id=users[phone],
            )
    with runtime.transaction() as s:
        final = contracts_service.get_contract_or_raise(session=s, contract_id=ctr.id, owner_id=owner)
        pdf = contracts_service.contract_pdf(session=s, contract_id=ctr.id, owner_id=owner)
        from qianshu.pki import service as pki_service

        root_pem = pki_service.ca_certificate(session=s, kind="root").pem
    assert final.status == "completed"
    (tmp_path / "signed.pdf").write_bytes(pdf)
    out = pdfsig_trusting(tmp_path / "signed.pdf", root_pem, tmp_path)
    assert out.count("Signature is Valid.") == 2, out
    assert out.count("Certificate is Trusted.") == 2, out
    assert "Signer Certificate Common Name: 张三" in out and "Signer Certificate Common Name: 李四" in out
    assert "Total document signed" in out  # the B-LTA document time-stamp covers everything
    qpdf = subprocess.run(["qpdf", "--check", str(tmp_path / "signed.pdf")], capture_output=True, text=True, timeout=60)
    assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr
