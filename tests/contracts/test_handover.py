"""Hand-over (转交): an organisation's agent hands the signing to another authorised agent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent
from tests.contracts.test_api import _document, _problem

SENDER, AGENT, COLLEAGUE, MEMBER, STRANGER = (
    "13900139000",
    "13800138001",
    "13800138002",
    "13800138003",
    "13800138004",
)


@dataclass
class Org:
    id: str
    seal_id: str


@pytest.fixture
def org(runtime: Runtime, make_person: Callable[..., str]) -> Org:
    """A verified organisation: AGENT (owner) and COLLEAGUE may use its seal, MEMBER may not."""
    from qianshu.orgs import service as orgs_service
    from qianshu.orgs.models import Org as OrgRow
    from qianshu.orgs.schemas import GrantCreate, InvitationCreate, OrgCreate, SealGenerate

    agent, colleague, member = make_person(AGENT), make_person(COLLEAGUE), make_person(MEMBER)
    clock = runtime.clock
    # one transaction per step: the orgs domain counts its rate limits in transactions of their own
    with runtime.transaction() as s:
        created = orgs_service.create_org(
            session=s,
            clock=clock,
            actor_id=agent,
            data=OrgCreate(name="福建测试科技有限公司", uscc="91350100M000100Y43"),
        )
    with runtime.transaction() as s:  # verifying it (licence, legal representative, bank) is tests/orgs' business
        row = s.get(OrgRow, created.id)
        assert row is not None
        row.status = "verified"
    for phone, user_id in ((COLLEAGUE, colleague), (MEMBER, member)):
        with runtime.transaction() as s:
            invitation = orgs_service.invite_member(
                session=s, clock=clock, actor_id=agent, org_id=created.id, data=InvitationCreate(phone=phone)
            )
        with runtime.transaction() as s:
            orgs_service.accept_invitation(session=s, clock=clock, user_id=user_id, invitation_id=invitation.id)
    with runtime.transaction() as s:
        seal = orgs_service.create_generated_seal(
            session=s, clock=clock, actor_id=agent, org_id=created.id, data=SealGenerate()
        )
    for user_id in (agent, colleague):
        with runtime.transaction() as s:
            orgs_service.grant_seal(
                session=s,
                clock=clock,
                actor_id=agent,
                org_id=created.id,
                seal_id=seal.id,
                data=GrantCreate(user_id=user_id),
            )
    return Org(id=created.id, seal_id=seal.id)


def _org_contract(c: Any, org: Org) -> tuple[str, str]:
    signer = {
        "kind": "org",
        "phone": AGENT,
        "org_id": org.id,
        "seal_id": org.seal_id,
        "fields": [{"kind": "seal", "page": 0, "x1": 80, "y1": 90, "x2": 230, "y2": 210}],
    }
    created = c.post("/api/v1/contracts", json={"document_id": _document(c), "recipients": [signer]})
    assert created.status_code == 201, created.text
    sent = c.post(f"/api/v1/contracts/{created.json()['id']}/send")
    assert sent.status_code == 200, sent.text
    return created.json()["id"], sent.json()["links"][0]["url"].rsplit("/", 1)[1]


def _access(c: Any, token: str, sent: Sent, phone: str) -> dict[str, str]:
    assert c.post(f"/api/v1/sign/{token}/access-code").status_code == 202
    r = c.post(f"/api/v1/sign/{token}/access", json={"code": sent.code(phone, "otp_contract_access")})
    assert r.status_code == 200, r.text
    return {"X-Signing-Access": r.json()["access"]}


def test_an_agent_hands_over_to_an_authorised_colleague(
    api: Callable[..., Any], make_person: Callable[..., str], sent: Sent, org: Org, runtime: Runtime
) -> None:
    from qianshu.contracts import service as contracts_service

    make_person(SENDER, verified=False)
    sender = api(SENDER)
    contract_id, token = _org_contract(sender, org)
    anon = api()
    _problem(anon.post(f"/api/v1/sign/{token}/handover", json={"phone": COLLEAGUE}), 403, "signer-access-required")
    h = _access(anon, token, sent, AGENT)

    # refused, with the reason, for anyone who is not an authorised agent of this seal
    make_person(STRANGER, verified=False)
    body = _problem(anon.post(f"/api/v1/sign/{token}/handover", headers=h, json={"phone": STRANGER}), 403)
    assert body["type"].endswith("contract-handover-refused") and body["reason"] == "not_member"
    body = _problem(anon.post(f"/api/v1/sign/{token}/handover", headers=h, json={"phone": MEMBER}), 403)
    assert body["reason"] == "no_seal_grant"
    body = _problem(anon.post(f"/api/v1/sign/{token}/handover", headers=h, json={"phone": "13700137000"}), 403)
    assert body["reason"] == "not_registered"
    _problem(anon.post(f"/api/v1/sign/{token}/handover", headers=h, json={"phone": "12345"}), 422)
    _problem(anon.post(f"/api/v1/sign/{token}/handover", headers=h, json={"phone": AGENT}), 422)

    r = anon.post(f"/api/v1/sign/{token}/handover", headers=h, json={"phone": COLLEAGUE})
    assert r.status_code == 200, r.text
    assert r.json()["contact_masked"] == "138****8002" and r.json()["notified"] is True

    # the old link stops working; the colleague got a new one, bound to their phone
    _problem(anon.get(f"/api/v1/sign/{token}", headers=h), 404, "signing-link-invalid")
    new_token = sent.last(COLLEAGUE, "contract_handover")["params"]["token"]
    assert new_token != token
    h2 = _access(anon, new_token, sent, COLLEAGUE)
    view = anon.get(f"/api/v1/sign/{new_token}", headers=h2).json()
    assert view["your_turn"] and view["recipient"]["contact_masked"] == "138****8002"
    colleague = api(COLLEAGUE)
    assert colleague.get(f"/api/v1/sign/{new_token}").json()["access_granted"] is True

    # audited in the contract's chain; the sender sees the new contact
    with runtime.transaction() as s:
        from qianshu.accounts import service as accounts_service

        sender_id = accounts_service.find_user(session=s, phone=SENDER)
        colleague_id = accounts_service.find_user(session=s, phone=COLLEAGUE)
        assert sender_id is not None and colleague_id is not None
        events = contracts_service.contract_events(session=s, contract_id=contract_id, owner_id=sender_id.id)
    handed = [e for e in events if e.action == "contract.handed_over"]
    assert len(handed) == 1 and handed[0].data["to_user_id"] == colleague_id.id
    recipients = sender.get(f"/api/v1/contracts/{contract_id}").json()["recipients"]
    assert recipients[0]["contact_masked"] == "138****8002"


def test_a_person_signer_cannot_hand_over(api: Callable[..., Any], make_person: Callable[..., str], sent: Sent) -> None:
    from tests.contracts.test_api import _sent, _signer

    make_person(SENDER, verified=False)
    make_person(COLLEAGUE, verified=False)
    _contract_id, links = _sent(api(SENDER), [_signer(AGENT)])
    anon = api()
    h = _access(anon, links[AGENT], sent, AGENT)
    r = anon.post(f"/api/v1/sign/{links[AGENT]}/handover", headers=h, json={"phone": COLLEAGUE})
    _problem(r, 409, "contract-handover-not-allowed")


def test_the_signing_page_hands_over_and_shows_refusals(
    browser: Callable[..., Any], api: Callable[..., Any], make_person: Callable[..., str], sent: Sent, org: Org
) -> None:
    make_person(SENDER, verified=False)
    _contract_id, token = _org_contract(api(SENDER), org)
    agent = browser(AGENT)  # signed in as the recipient: no code needed
    page = agent.get(f"/sign/{token}", headers={"accept": "text/html"})
    assert page.status_code == 200 and 'id="handover"' in page.text
    csrf = str(agent.cookies.get("qs_csrf"))
    r = agent.post(f"/sign/{token}/handover", data={"contact": MEMBER, "csrf_token": csrf})
    assert r.status_code == 403 and "没有该印章的使用授权" in r.text
    r = agent.post(f"/sign/{token}/handover", data={"contact": COLLEAGUE, "csrf_token": csrf})
    assert r.status_code == 200 and 'id="handover-done"' in r.text and "138****8002" in r.text
    assert agent.get(f"/sign/{token}", headers={"accept": "text/html"}).status_code == 404
