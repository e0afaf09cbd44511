"""A verified organisation with a seal, built through the orgs services, for organisation signers.

The owner is its verified legal representative (and so decides on seal use); the agent is an
invited member holding a grant for the seal. The micro-deposit runs through the sandbox bank served
on a loopback port (a real HTTP round trip, as in tests/orgs).
"""

from __future__ import annotations

import io
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from qianshu.core.runtime import Runtime
from tests.contracts.conftest import PASSWORD, Sent
from tests.identity.conftest import make_id

_SEQ = iter(range(300, 900))
USCC = "91350100M000100Y43"


@dataclass
class SealOrg:
    """A verified organisation, its seal, the owner (keeper) and the agent who signs."""

    org_id: str
    seal_id: str
    owner_id: str
    owner_phone: str
    agent_id: str
    agent_phone: str


def two_page_pdf() -> bytes:
    """Return a plain two-page A4 PDF."""
    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    for i in range(2):
        doc.drawString(72, 760, f"Contract page {i + 1} of 2")
        doc.showPage()
    doc.save()
    return out.getvalue()


def _licence() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (900, 640), (250, 248, 240)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def bank_server(runtime: Runtime) -> Iterator[str]:
    """Serve the platform (and its sandbox bank) on a loopback port; point the bank adapter at it."""
    import uvicorn

    from qianshu.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, start_background=False),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="contracts-bank", daemon=True)
    thread.start()
    runtime.settings.bank_url = f"{url}/sandbox/bank"
    runtime.settings.bank_timeout_seconds = 30.0
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def make_seal_org(runtime: Runtime, sent: Sent, bank_server: str) -> Callable[..., SealOrg]:
    """Return `make(requires_approval=True)`: a verified org, a seal, its owner and a granted agent."""
    from qianshu.accounts import service as accounts_service
    from qianshu.identity import levels
    from qianshu.identity.checks import verify_now

    clock = runtime.clock

    def person(phone: str, name: str) -> tuple[str, str]:
        number = make_id(seq=f"{next(_SEQ):03d}")
        with runtime.transaction() as s:
            accounts_service.start_registration(session=s, clock=clock, phone=phone)
        code = sent.code(phone, "otp_register")
        with runtime.transaction() as s:
            new = accounts_service.complete_registration(
                session=s,
                clock=clock,
                code=code,
                password=PASSWORD,
                accept_policy_version=accounts_service.current_policy_version(session=s),
                phone=phone,
            )
            user_id = new.read.user.id
        with runtime.transaction() as s:
            verify_now(
                session=s,
                clock=clock,
                user_id=user_id,
                level="two_elements",
                name=name,
                id_number=number,
                grant=(levels.PURPOSE_ID_NUMBER,),
            )
        return user_id, number

    def make(*, requires_approval: bool = True, owner_phone: str, agent_phone: str) -> SealOrg:
        owner, number = person(owner_phone, "王五")
        agent, _ = person(agent_phone, "赵六")
        return verify_seal_org(
            runtime,
            owner=(owner, owner_phone, number),
            agent=(agent, agent_phone),
            requires_approval=requires_approval,
        )

    return make


def verify_seal_org(
    runtime: Runtime, *, owner: tuple[str, str, str], agent: tuple[str, str], requires_approval: bool
) -> SealOrg:
    """Verify an organisation of two verified people and give the agent a seal.

    `owner` is (user id, phone, ID number: the legal representative's), `agent` is (user id, phone).
    An operator approves the licence; the micro-deposit goes through the sandbox bank at
    `runtime.settings`' address; the owner invites the agent, makes a seal and grants it.
    """
    from qianshu.accounts import service as accounts_service
    from qianshu.orgs import service as orgs_service
    from qianshu.orgs.sandbox import local_bank
    from qianshu.orgs.schemas import (
        DepositConfirm,
        DepositStart,
        GrantCreate,
        InvitationCreate,
        LegalRepIn,
        OrgCreate,
        ReviewDecision,
        SealGenerate,
    )

    clock = runtime.clock
    owner_id, owner_phone, number = owner
    agent_id, agent_phone = agent
    with runtime.transaction() as s:
        operator = accounts_service.create_operator(
            session=s, clock=clock, email=f"op{secrets.token_hex(4)}@qianshu.local", password=PASSWORD
        )
    with runtime.transaction() as s:
        org = orgs_service.create_org(
            session=s, clock=clock, actor_id=owner_id, data=OrgCreate(name="福建测试科技有限公司", uscc=USCC)
        )
    with runtime.transaction() as s:
        doc = orgs_service.upload_licence(session=s, clock=clock, actor_id=owner_id, org_id=org.id, data=_licence())
    with runtime.transaction() as s:
        orgs_service.decide_document(
            session=s,
            clock=clock,
            operator_id=operator.id,
            document_id=doc.id,
            decision=ReviewDecision(decision="approve"),
        )
    with runtime.transaction() as s:  # each step in its own transaction, as each request would be
        orgs_service.submit_legal_rep(
            session=s,
            clock=clock,
            actor_id=owner_id,
            org_id=org.id,
            data=LegalRepIn(name="王五", id_number=number, authorised=True),
        )
    account = "6222" + "".join(secrets.choice("123456789") for _ in range(12))
    with runtime.transaction() as s:
        orgs_service.start_micro_deposit(
            session=s,
            clock=clock,
            actor_id=owner_id,
            org_id=org.id,
            data=DepositStart(bank_name="中国工商银行福州分行", account_number=account),
        )
    amount = local_bank(runtime).statement(account_number=account).transfers[0].amount
    with runtime.transaction() as s:
        orgs_service.confirm_micro_deposit(
            session=s, clock=clock, actor_id=owner_id, org_id=org.id, data=DepositConfirm(amount=amount)
        )
    with runtime.transaction() as s:
        assert orgs_service.get_org(session=s, org_id=org.id, user_id=owner_id).status == "verified"
        invitation = orgs_service.invite_member(
            session=s,
            clock=clock,
            actor_id=owner_id,
            org_id=org.id,
            data=InvitationCreate(phone=agent_phone, role="agent"),
        )
    with runtime.transaction() as s:
        orgs_service.accept_invitation(session=s, clock=clock, user_id=agent_id, invitation_id=invitation.id)
    with runtime.transaction() as s:
        seal = orgs_service.create_generated_seal(
            session=s,
            clock=clock,
            actor_id=owner_id,
            org_id=org.id,
            data=SealGenerate(requires_approval=requires_approval),
        )
    with runtime.transaction() as s:
        orgs_service.grant_seal(
            session=s,
            clock=clock,
            actor_id=owner_id,
            org_id=org.id,
            seal_id=seal.id,
            data=GrantCreate(user_id=agent_id),
        )
    return SealOrg(org.id, seal.id, owner_id, owner_phone, agent_id, agent_phone)


def org_signer(org: SealOrg, *, order: int = 1, page: int = 1) -> dict[str, Any]:
    """Return the API recipient for the organisation, signing through its agent with a seal field."""
    return {
        "kind": "org",
        "phone": org.agent_phone,
        "routing_order": order,
        "org_id": org.org_id,
        "seal_id": org.seal_id,
        "fields": [{"kind": "seal", "page": page, "x1": 380, "y1": 120, "x2": 500, "y2": 240}],
    }
