"""The consent ledger's pages: the policy, the re-consent gate's accept form, consents, publishing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.privacy import service as privacy_service
from tests.privacy.conftest import ClientAs, SignedInClient, csrf

OfficerAs = Callable[..., SignedInClient]

HTML = {"Accept": "text/html"}


def _major(session: Session, clock: FrozenClock, version: str = "2.0") -> str:
    policy = privacy_service.publish_policy(
        session=session,
        clock=clock,
        actor="system",
        version=version,
        major=True,
        text=f"# 隐私政策 {version}\n\n新增 **刷脸** 认证。<script>alert(1)</script>",
        summary="新增刷脸认证",
    )
    session.commit()
    return policy.id


def test_policy_page_shows_the_current_text_and_versions(
    client: TestClient, session: Session, clock: FrozenClock
) -> None:
    page = client.get("/privacy")
    assert page.status_code == 200
    assert "签署平台运营方" in page.text and "<h3>一、我们如何收集和使用您的个人信息</h3>" in page.text
    assert 'href="/privacy/versions/1.0"' in page.text
    _major(session, clock)
    page = client.get("/privacy")
    assert (
        "<strong>刷脸</strong>" in page.text
        and "&lt;script&gt;" in page.text
        and "<script>alert" not in page.text
    )
    old = client.get("/privacy/versions/1.0")
    assert old.status_code == 200 and "签署平台运营方" in old.text and "badge warn" in old.text


def test_unknown_policy_version_page_is_a_404_page(client: TestClient) -> None:
    page = client.get("/privacy/versions/0.1", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_gate_sends_to_the_accept_form_and_back(
    client_as: ClientAs, session: Session, clock: FrozenClock
) -> None:
    me = client_as()
    user_id = me.principal.user_id
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user_id, version_id="1.0", context=None
    )
    session.commit()
    # Nothing to accept: the form steps aside.
    skip = me.get("/privacy/accept?next=/account", follow_redirects=False)
    assert skip.status_code == 303 and skip.headers["location"] == "/account"

    new_id = _major(session, clock)
    form = me.get("/privacy/accept?next=/contracts%3Fpage%3D2")
    assert form.status_code == 200
    assert f'name="policy_id" value="{new_id}"' in form.text
    assert 'name="next" value="/contracts?page=2"' in form.text
    assert "新增刷脸认证" in form.text and "1.0" in form.text
    assert "<h1>隐私政策已更新</h1>" in form.text

    done = me.post(
        "/privacy/accept",
        data={"csrf_token": csrf(me), "policy_id": new_id, "next": "/contracts?page=2"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/contracts?page=2"
    session.expire_all()
    assert not privacy_service.needs_reconsent(session=session, user_id=user_id)


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_accept_only_redirects_to_local_paths(client_as: ClientAs, target: str) -> None:
    me = client_as()
    policy_id = me.get("/api/v1/privacy/policies/current").json()["id"]
    done = me.post(
        "/privacy/accept",
        data={"csrf_token": csrf(me), "policy_id": policy_id, "next": target},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_accept_needs_the_csrf_token(client_as: ClientAs, session: Session) -> None:
    me = client_as()
    policy_id = me.get("/api/v1/privacy/policies/current").json()["id"]
    refused = me.post("/privacy/accept", data={"policy_id": policy_id, "next": "/"}, follow_redirects=False)
    assert refused.status_code == 403
    wrong = me.post(
        "/privacy/accept", data={"csrf_token": "x" * 43, "policy_id": policy_id}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert privacy_service.needs_reconsent(session=session, user_id=me.principal.user_id)


def test_accept_form_rejects_an_unknown_policy(client_as: ClientAs) -> None:
    me = client_as()
    page = me.post("/privacy/accept", data={"csrf_token": csrf(me), "policy_id": "9.9"}, headers=HTML)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]


def test_signed_out_visitors_are_sent_to_login(client: TestClient) -> None:
    for path in ("/privacy/accept?next=/x", "/privacy/consents", "/operator/privacy"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_consents_page_grants_and_withdraws(
    client_as: ClientAs, session: Session, clock: FrozenClock
) -> None:
    me = client_as()
    user_id = me.principal.user_id
    form = {"csrf_token": csrf(me), "purpose": "sensitive.face", "action": "grant"}
    waiting = me.post("/privacy/consents", data=form, follow_redirects=False)
    assert waiting.status_code == 303 and waiting.headers["location"].startswith("/privacy/accept?next=")
    assert not privacy_service.has_consent(session=session, user_id=user_id, purpose="sensitive.face")
    privacy_service.record_policy_acceptance(
        session=session, clock=clock, user_id=user_id, version_id="1.0", context=None
    )
    session.commit()
    page = me.get("/privacy/consents")
    assert page.status_code == 200 and "面部图像" in page.text and 'id="purpose-sensitive-face"' in page.text
    saved = me.post(
        "/privacy/consents",
        data={"csrf_token": csrf(me), "purpose": "sensitive.face", "action": "grant"},
        follow_redirects=False,
    )
    assert (
        saved.status_code == 303
        and saved.headers["location"] == "/privacy/consents?notice=privacy_consent_saved"
    )
    assert privacy_service.has_consent(session=session, user_id=user_id, purpose="sensitive.face")
    page = me.get(saved.headers["location"])
    assert "已记录您的选择" in page.text and "同意：面部图像" in page.text and "撤回同意" in page.text
    me.post(
        "/privacy/consents", data={"csrf_token": csrf(me), "purpose": "sensitive.face", "action": "withdraw"}
    )
    session.expire_all()
    assert not privacy_service.has_consent(session=session, user_id=user_id, purpose="sensitive.face")
    bad = me.post(
        "/privacy/consents", data={"csrf_token": csrf(me), "purpose": "nope", "action": "grant"}, headers=HTML
    )
    assert bad.status_code == 422


def test_operator_publishes_from_the_form(officer_as: OfficerAs, session: Session) -> None:
    operator = officer_as("dpo@example.com", "privacy_officer")
    page = operator.get("/operator/privacy")
    assert page.status_code == 200 and 'id="publish-form"' in page.text
    form = {
        "csrf_token": csrf(operator),
        "version": "2.0",
        "text": "# 新政策\n\n{{operator_name}}",
        "summary": "改版",
        "major": "1",
    }
    done = operator.post("/operator/privacy", data=form, follow_redirects=False)
    assert (
        done.status_code == 303 and done.headers["location"] == "/operator/privacy?notice=privacy_published"
    )
    policy = privacy_service.current_policy(session=session)
    assert (policy.version, policy.major, policy.text) == ("2.0", True, "# 新政策\n\n签署平台运营方")
    again = operator.post("/operator/privacy", data=form | {"text": "# 又一版"})
    assert again.status_code == 409 and "版本 2.0 已发布" in again.text and "# 又一版" in again.text
    bad = operator.post("/operator/privacy", data=form | {"version": "3 0"})
    assert bad.status_code == 422 and 'id="publish-form"' in bad.text


def test_gate_stops_a_user_who_has_not_accepted_the_policy(client_as: ClientAs) -> None:
    user = client_as()
    stopped = user.get("/operator/privacy", follow_redirects=False)
    assert stopped.status_code == 303
    assert stopped.headers["location"] == "/privacy/accept?next=%2Foperator%2Fprivacy"
    form = user.get(stopped.headers["location"])
    assert form.status_code == 200 and 'name="next" value="/operator/privacy"' in form.text
    assert "<h1>请阅读并同意隐私政策</h1>" in form.text  # nothing accepted before: not an "update"


def test_operator_page_is_for_operators_only(
    client_as: ClientAs, session: Session, clock: FrozenClock
) -> None:
    user = client_as()
    privacy_service.record_policy_acceptance(
        session=session,
        clock=clock,
        user_id=user.principal.user_id,
        version_id="1.0",
        context=None,
    )
    session.commit()
    assert user.get("/operator/privacy", headers=HTML).status_code == 403
    form = {"csrf_token": csrf(user), "version": "2.0", "text": "x", "major": "1"}
    assert user.post("/operator/privacy", data=form, headers=HTML).status_code == 403
