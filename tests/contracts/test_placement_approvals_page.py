"""The seal-use approval page (用印审批): list pending requests, approve, reject with a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qianshu.contracts import service as contracts_service
from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent
from tests.contracts.org_signers import SealOrg, bank_server, make_seal_org
from tests.contracts.test_approvals import AGENT, OWNER, _contract, _sign

__all__ = ["bank_server", "make_seal_org"]  # fixtures used by the tests below

SENDER, PERSON = "13700137000", "13700137001"
HTML = {"accept": "text/html"}


@pytest.fixture
def waiting(
    runtime: Runtime, sent: Sent, make_person: Callable[..., str], make_seal_org: Callable[..., SealOrg]
) -> tuple[SealOrg, str]:
    """An organisation signer's seal use waiting for the keeper; return the org and the contract id."""
    sender = make_person(SENDER, verified=False)
    make_person(PERSON, name="李四")
    org = make_seal_org(owner_phone=OWNER, agent_phone=AGENT)
    contract_id, tokens = _contract(runtime, sender, org)
    _sign(runtime, sent, tokens["org"], AGENT, org.agent_id)
    return org, contract_id


def _post(c: Any, url: str, data: dict[str, str] | None = None) -> Any:
    return c.post(url, data={**(data or {}), "csrf_token": str(c.cookies.get("qs_csrf"))}, headers=HTML)


def test_keeper_rejects_with_a_reason_then_the_request_leaves_the_pending_list(
    browser: Callable[..., Any], runtime: Runtime, waiting: tuple[SealOrg, str]
) -> None:
    org, _contract_id = waiting
    keeper = browser(OWNER)
    page = keeper.get("/seal-approvals", headers=HTML)
    with runtime.transaction() as s:
        (pending,) = contracts_service.list_seal_approvals(session=s, user_id=org.owner_id)
    assert page.status_code == 200 and f'id="approval-{pending.id}"' in page.text
    assert f'id="approve-{pending.id}"' in page.text and f'id="reject-{pending.id}"' in page.text

    # no reason: refused on the page, nothing decided
    r = _post(keeper, f"/seal-approvals/{pending.id}/reject", {"reason": " "})
    assert r.status_code == 422 and 'class="notice error"' in r.text and "请填写驳回原因" in r.text
    r = _post(keeper, f"/seal-approvals/{pending.id}/reject", {"reason": "请补充附件"})
    assert r.status_code == 303 and r.headers["location"] == "/seal-approvals?notice=contracts_seal_rejected"
    page = keeper.get(r.headers["location"], headers=HTML)
    assert 'id="no-approvals"' in page.text and "已驳回用印申请" in page.text
    page = keeper.get("/seal-approvals?status=all", headers=HTML)
    assert 'data-status="rejected"' in page.text and "请补充附件" in page.text

    # an unknown request is a readable 404 on the page
    agent = browser(AGENT)
    r = _post(agent, "/seal-approvals/sap_doesnotexist0000000/approve")
    assert r.status_code == 404 and 'class="notice error"' in r.text


def test_keeper_approves_and_the_agent_cannot_approve_their_own(
    browser: Callable[..., Any], runtime: Runtime, waiting: tuple[SealOrg, str]
) -> None:
    org, contract_id = waiting
    with runtime.transaction() as s:
        (pending,) = contracts_service.list_seal_approvals(session=s, user_id=org.owner_id)
    r = _post(browser(AGENT), f"/seal-approvals/{pending.id}/approve")
    assert r.status_code in (403, 404) and 'class="notice error"' in r.text
    r = _post(browser(OWNER), f"/seal-approvals/{pending.id}/approve")
    assert r.status_code == 303 and r.headers["location"] == "/seal-approvals?notice=contracts_seal_approved"
    with runtime.transaction() as s:
        assert contracts_service.get_seal_approval(session=s, approval_id=pending.id, user_id=org.owner_id).status == (
            "approved"
        )
    assert contract_id


def test_unknown_decision_is_refused(browser: Callable[..., Any], waiting: tuple[SealOrg, str]) -> None:
    r = _post(browser(OWNER), "/seal-approvals/sap_x/forge")
    assert r.status_code == 422 and "未知的审批操作" in r.text
