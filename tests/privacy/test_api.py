"""The consent ledger's JSON API: policies, a person's consents, publishing (operators)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qianshu.evidence import service as evidence_service
from qianshu.privacy import service as privacy_service
from tests.privacy.conftest import ClientAs, SignedInClient, csrf

OfficerAs = Callable[..., SignedInClient]

PROBLEM = "application/problem+json"


def _publish(client: TestClient, **body: Any) -> Any:
    payload = {
        "version": "2.0",
        "text": "# 隐私政策 2.0\n\n{{operator_name}} 更新了政策。",
        "major": True,
    } | body
    return client.post("/api/v1/operator/privacy/policies", json=payload)


def test_policies_are_public(client: TestClient) -> None:
    listed = client.get("/api/v1/privacy/policies")
    assert listed.status_code == 200
    assert [(p["version"], p["major"]) for p in listed.json()] == [("1.0", True)]
    assert "text" not in listed.json()[0]
    current = client.get("/api/v1/privacy/policies/current").json()
    assert current["id"] == listed.json()[0]["id"] and "签署平台运营方" in current["text"]
    assert client.get("/api/v1/privacy/policies/1.0").json() == current
    missing = client.get("/api/v1/privacy/policies/9.9")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    assert missing.json()["type"].endswith("/policy-not-found")


def test_my_consents_needs_a_signed_in_user(client: TestClient) -> None:
    assert client.get("/api/v1/me/consents").status_code == 401
    response = client.post("/api/v1/me/consents", json={"purpose": "marketing", "action": "grant"})
    assert response.status_code == 401 and response.headers["content-type"].startswith(PROBLEM)
    assert client.post("/api/v1/privacy/acceptances", json={"policy_id": "1.0"}).status_code == 401


def test_accept_then_grant_and_withdraw(client_as: ClientAs, session: Session) -> None:
    me = client_as()
    user_id = me.principal.user_id
    overview = me.get("/api/v1/me/consents").json()
    assert overview["needs_reconsent"] is True and overview["accepted"] == []
    assert {p["purpose"] for p in overview["purposes"]} >= {"marketing", "sensitive.face"}
    policy_id = overview["current_policy"]["id"]

    # Before accepting the policy no new consent can be granted, but withdrawing always works.
    refused = me.post("/api/v1/me/consents", json={"purpose": "marketing", "action": "grant"})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/policy-consent-required")
    assert (
        me.post("/api/v1/me/consents", json={"purpose": "marketing", "action": "withdraw"}).status_code == 200
    )

    accepted = me.post(
        "/api/v1/privacy/acceptances", json={"policy_id": policy_id}, headers={"User-Agent": "UA/1"}
    )
    assert accepted.status_code == 200
    assert accepted.json()["needs_reconsent"] is False
    assert [a["version"] for a in accepted.json()["accepted"]] == ["1.0"]

    granted = me.post("/api/v1/me/consents", json={"purpose": "sensitive.face", "action": "grant"}).json()
    face = next(p for p in granted["purposes"] if p["purpose"] == "sensitive.face")
    assert face["granted"] is True and face["sensitive"] is True and face["label"] == "面部图像"
    withdrawn = me.post(
        "/api/v1/me/consents", json={"purpose": "sensitive.face", "action": "withdraw"}
    ).json()
    assert [(h["purpose"], h["action"]) for h in withdrawn["history"]] == [
        ("sensitive.face", "grant"),
        ("sensitive.face", "withdraw"),
    ]
    session.expire_all()
    assert not privacy_service.has_consent(session=session, user_id=user_id, purpose="sensitive.face")
    actions = [e.action for e in evidence_service.list_events(session=session, stream=f"user:{user_id}")]
    assert actions == ["privacy.policy_accepted", "privacy.consent_granted", "privacy.consent_withdrawn"]


def test_consent_labels_follow_the_locale(client_as: ClientAs) -> None:
    me = client_as()
    purposes = me.get("/api/v1/me/consents?lang=en").json()["purposes"]
    assert next(p for p in purposes if p["purpose"] == "sensitive.face")["label"] == "Face image"


def test_consent_changes_reject_bad_input(client_as: ClientAs) -> None:
    me = client_as()
    unknown = me.post("/api/v1/me/consents", json={"purpose": "sensitive.dna", "action": "withdraw"})
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/unknown-purpose")
    assert me.post("/api/v1/me/consents", json={"purpose": "marketing", "action": "maybe"}).status_code == 422
    assert me.post("/api/v1/me/consents", json={"purpose": "marketing"}).status_code == 422
    assert (
        me.post("/api/v1/me/consents", content=b"{", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    missing = me.post("/api/v1/privacy/acceptances", json={"policy_id": "pol_0000000000000000000a"})
    assert missing.status_code == 404


def test_operators_publish_and_users_must_accept_again(client_as: ClientAs, officer_as: OfficerAs) -> None:
    operator = officer_as("dpo@example.com", "privacy_officer")
    user = client_as()
    first = user.get("/api/v1/me/consents").json()["current_policy"]["id"]
    user.post("/api/v1/privacy/acceptances", json={"policy_id": first})

    minor = _publish(
        operator, version="1.1", major=False, summary="措辞修订", text="# 隐私政策 1.1\n\n措辞修订。"
    )
    assert minor.status_code == 201 and minor.json()["major"] is False
    assert user.get("/api/v1/me/consents").json()["needs_reconsent"] is False

    major = _publish(operator)
    assert major.status_code == 201
    body = major.json()
    assert body["version"] == "2.0" and "签署平台运营方 更新了政策" in body["text"]
    overview = user.get("/api/v1/me/consents").json()
    assert overview["needs_reconsent"] is True and overview["current_policy"]["version"] == "2.0"
    user.post("/api/v1/privacy/acceptances", json={"policy_id": body["id"]})
    assert user.get("/api/v1/me/consents").json()["needs_reconsent"] is False


def test_publishing_is_for_operators_only(client: TestClient, client_as: ClientAs) -> None:
    assert _publish(client).status_code == 401
    assert _publish(client_as()).status_code == 403
    assert len(client.get("/api/v1/privacy/policies").json()) == 1


def test_publishing_needs_the_privacy_officer_role(officer_as: OfficerAs) -> None:
    """Least privilege (P10): an operator with other sub-roles (or none) cannot publish a policy."""
    html = {"Accept": "text/html"}
    for email, roles in (("support@example.com", ("support", "reviewer", "security")), ("new@example.com", ())):
        operator = officer_as(email, *roles)
        refused = _publish(operator)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
        problem = refused.json()
        assert problem["type"].endswith("staff-role-required") and "个人信息保护负责人" in problem["detail"]
        page = operator.get("/operator/privacy", headers=html)  # the versions, but no form: a note instead
        assert page.status_code == 200 and 'id="publish-needs-role"' in page.text
        assert 'id="publish-form"' not in page.text
        form = {"csrf_token": csrf(operator), "version": "2.0", "text": "# 新政策", "major": "1"}
        denied = operator.post("/operator/privacy", data=form, headers=html)
        assert denied.status_code == 403 and denied.headers["content-type"].startswith("text/html")
        assert "您的运营角色无权执行此操作" in denied.text and "个人信息保护负责人" in denied.text
    assert [p["version"] for p in operator.get("/api/v1/privacy/policies").json()] == ["1.0"]
    officer = officer_as("dpo@example.com", "privacy_officer")
    assert 'id="publish-form"' in officer.get("/operator/privacy", headers=html).text
    assert _publish(officer).status_code == 201


def test_publishing_rejects_bad_input(officer_as: OfficerAs) -> None:
    operator = officer_as("dpo@example.com", "privacy_officer")
    assert _publish(operator, version="1.0").status_code == 409
    assert _publish(operator, version="two words").status_code == 422
    assert _publish(operator, text="").status_code == 422
    assert _publish(operator, text="{{unknown}}").status_code == 422
    assert _publish(operator, extra="field").status_code == 422
    assert operator.post("/api/v1/operator/privacy/policies", json={"version": "3.0"}).status_code == 422
    assert len(operator.get("/api/v1/privacy/policies").json()) == 1
