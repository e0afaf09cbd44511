"""Seal-use approval (用印审批) and the cross-page seal (骑缝章) of an organisation signer, end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qianshu.contracts import service as contracts_service
from qianshu.contracts.approvals import SealApprovalForbidden, SealApprovalNotFound
from qianshu.contracts.errors import ContractState
from qianshu.contracts.schemas import ContractCreate, SignIn
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.signing import service as signing_service
from tests.contracts.conftest import Sent
from tests.contracts.org_signers import SealOrg, bank_server, make_seal_org, org_signer, two_page_pdf

__all__ = ["bank_server", "make_seal_org"]  # fixtures used by the tests below

SENDER, PERSON, OWNER, AGENT, OUTSIDER = "13700137000", "13700137001", "13700137002", "13700137003", "13700137004"


def _contract(runtime: Runtime, sender: str, org: SealOrg) -> tuple[str, dict[str, str]]:
    recipients: list[dict[str, Any]] = [
        {
            "phone": PERSON,
            "routing_order": 1,
            "fields": [{"kind": "signature", "page": 1, "x1": 60, "y1": 100, "x2": 220, "y2": 170}],
        },
        org_signer(org, order=1),
    ]
    with runtime.transaction() as s:
        doc = contracts_service.upload_document(session=s, clock=runtime.clock, owner_id=sender, data=two_page_pdf())
        ctr = contracts_service.create_contract(
            session=s,
            clock=runtime.clock,
            owner_id=sender,
            data=ContractCreate.model_validate({"document_id": doc.id, "recipients": recipients}),
        )
        sent = contracts_service.send_contract(session=s, clock=runtime.clock, owner_id=sender, contract_id=ctr.id)
    kinds = {r.id: r.kind for r in sent.contract.recipients}
    return ctr.id, {kinds[link.recipient_id]: link.url.rsplit("/", 1)[1] for link in sent.links}


def _sign(runtime: Runtime, sent: Sent, token: str, phone: str, user: str, **extra: Any) -> Any:
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=user)
    code = sent.code(phone, "otp_contract_sign")
    with runtime.transaction() as s:
        return contracts_service.sign(
            session=s, clock=runtime.clock, token=token, data=SignIn(code=code, **extra), user_id=user
        )


def _events(runtime: Runtime, stream: str) -> list[str]:
    with runtime.transaction() as s:
        return [e.action for e in evidence_service.list_events(session=s, stream=stream)]


@pytest.fixture
def setup(
    runtime: Runtime, make_person: Callable[..., str], make_seal_org: Callable[..., SealOrg]
) -> tuple[str, str, SealOrg]:
    sender = make_person(SENDER, verified=False)
    person = make_person(PERSON, name="李四")
    org = make_seal_org(owner_phone=OWNER, agent_phone=AGENT)
    return sender, person, org


def test_agent_signature_waits_for_the_keeper_and_approval_applies_it(
    runtime: Runtime, sent: Sent, setup: tuple[str, str, SealOrg]
) -> None:
    sender, person, org = setup
    contract_id, tokens = _contract(runtime, sender, org)

    view = _sign(runtime, sent, tokens["org"], AGENT, org.agent_id, cross_page_seal=True)
    assert view.recipient.status == "awaiting_seal"
    with runtime.transaction() as s:
        pending = contracts_service.list_seal_approvals(session=s, user_id=org.owner_id)
        assert (
            contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=sender).signatures == 0
        )
    assert [p.contract_id for p in pending] == [contract_id]
    assert pending[0].cross_page and pending[0].status == "pending"
    assert sent.last(OWNER, "contract_seal_approval_request")["params"] == {"approval": pending[0].id}
    with pytest.raises(ContractState):  # no second request while one waits
        _sign(runtime, sent, tokens["org"], AGENT, org.agent_id)

    # The agent may not decide on their own request; strangers do not even see it.
    with runtime.transaction() as s, pytest.raises(SealApprovalForbidden):
        contracts_service.approve_seal_use(
            session=s, clock=runtime.clock, approval_id=pending[0].id, user_id=org.agent_id
        )
    with runtime.transaction() as s, pytest.raises(SealApprovalNotFound):
        contracts_service.approve_seal_use(session=s, clock=runtime.clock, approval_id=pending[0].id, user_id=person)

    with runtime.transaction() as s:
        done = contracts_service.approve_seal_use(
            session=s, clock=runtime.clock, approval_id=pending[0].id, user_id=org.owner_id
        )
    assert done.status == "approved"
    _sign(runtime, sent, tokens["person"], PERSON, person)  # the parallel person signer completes it

    with runtime.transaction() as s:
        contract = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=sender)
        pdf = contracts_service.contract_pdf(session=s, contract_id=contract_id, owner_id=sender)
    assert contract.status == "completed" and contract.signatures == 2
    report = signing_service.validate_pdf(pdf, trust_roots=signing_service.trust_roots(runtime=runtime))
    assert report.ok and all(sig.ok for sig in report.signatures)
    actions = _events(runtime, f"contract:{contract_id}")
    assert actions.index("contract.seal_approval_requested") < actions.index("contract.seal_approved")
    assert (
        actions.index("contract.seal_approved") < actions.index("contract.signed") < actions.index("contract.completed")
    )
    org_actions = _events(runtime, f"org:{org.org_id}")
    assert org_actions[-2:] == ["org.seal_use_requested", "org.seal_use_approved"]


def test_rejection_tells_the_agent_who_may_sign_again(
    runtime: Runtime, sent: Sent, setup: tuple[str, str, SealOrg]
) -> None:
    sender, _person, org = setup
    contract_id, tokens = _contract(runtime, sender, org)
    _sign(runtime, sent, tokens["org"], AGENT, org.agent_id)
    with runtime.transaction() as s:
        (first,) = contracts_service.list_seal_approvals(session=s, user_id=org.owner_id)
        rejected = contracts_service.reject_seal_use(
            session=s, clock=runtime.clock, approval_id=first.id, user_id=org.owner_id, reason="金额需复核"
        )
    assert rejected.status == "rejected" and rejected.reason == "金额需复核"
    assert sent.last(AGENT, "contract_seal_rejected")["params"] == {"contract": contract_id}
    with runtime.transaction() as s, pytest.raises(ContractState):  # decided once only
        contracts_service.approve_seal_use(session=s, clock=runtime.clock, approval_id=first.id, user_id=org.owner_id)

    view = _sign(runtime, sent, tokens["org"], AGENT, org.agent_id)  # a fresh intent code, a new request
    assert view.recipient.status == "awaiting_seal"
    with runtime.transaction() as s:
        again = contracts_service.list_seal_approvals(session=s, user_id=org.owner_id)
    assert len(again) == 1 and again[0].id != first.id
    assert "contract.seal_rejected" in _events(runtime, f"contract:{contract_id}")
    assert "org.seal_use_rejected" in _events(runtime, f"org:{org.org_id}")


def test_approval_after_revocation_closes_the_request(
    runtime: Runtime, sent: Sent, setup: tuple[str, str, SealOrg]
) -> None:
    sender, _person, org = setup
    contract_id, tokens = _contract(runtime, sender, org)
    _sign(runtime, sent, tokens["org"], AGENT, org.agent_id)
    with runtime.transaction() as s:
        contracts_service.revoke_contract(
            session=s, clock=runtime.clock, owner_id=sender, contract_id=contract_id, reason="条款变更"
        )
    with runtime.transaction() as s:
        (request,) = contracts_service.list_seal_approvals(session=s, user_id=org.owner_id)
        closed = contracts_service.approve_seal_use(
            session=s, clock=runtime.clock, approval_id=request.id, user_id=org.owner_id
        )
    assert closed.status == "closed"
    with runtime.transaction() as s:
        assert (
            contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=sender).signatures == 0
        )


def test_api_lists_and_decides_seal_use(
    runtime: Runtime, sent: Sent, setup: tuple[str, str, SealOrg], api: Callable[..., Any]
) -> None:
    sender, _person, org = setup
    _contract_id, tokens = _contract(runtime, sender, org)
    _sign(runtime, sent, tokens["org"], AGENT, org.agent_id)
    keeper = api(OWNER)
    listed = keeper.get("/api/v1/seal-approvals")
    assert listed.status_code == 200 and len(listed.json()) == 1
    approval_id = listed.json()[0]["id"]
    bad = keeper.post(f"/api/v1/seal-approvals/{approval_id}/reject", json={"reason": ""})
    assert bad.status_code == 422
    assert api(AGENT).post(f"/api/v1/seal-approvals/{approval_id}/approve").status_code == 403
    assert keeper.get("/api/v1/seal-approvals/sap_doesnotexist0000000").status_code == 404
    ok = keeper.post(f"/api/v1/seal-approvals/{approval_id}/reject", json={"reason": "请补充附件"})
    assert ok.status_code == 200 and ok.json()["status"] == "rejected"
    assert keeper.get("/api/v1/seal-approvals").json() == []
    assert len(keeper.get("/api/v1/seal-approvals", params={"status": "all"}).json()) == 1
