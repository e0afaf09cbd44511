"""The privacy centre over HTTP: JSON API and pages, for people and for operators by sub-role."""

from __future__ import annotations

from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, make_operator, register_user
from tests.privacy.conftest import ClientAs, csrf

PHONE = "13800138501"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def test_person_sees_their_data_asks_confirms_and_follows_a_request(
    runtime: Runtime, outbox: Outbox, client_as: ClientAs
) -> None:
    user = register_user(runtime, outbox, PHONE, name="钱七")
    c = client_as(user)
    r = c.get("/api/v1/me/privacy")
    assert r.status_code == 200
    body = r.json()
    assert body["masked"] is False and body["sections"][0]["key"] == "accounts"
    assert PHONE in r.text
    h = {"X-CSRF-Token": csrf(c)}
    r = c.post("/api/v1/me/privacy/requests", json={"kind": "complaint", "details": "短信太多"}, headers=h)
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]
    r = c.post(f"/api/v1/me/privacy/requests/{request_id}/confirm", json={"code": "12"}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = c.post(
        f"/api/v1/me/privacy/requests/{request_id}/confirm", json={"code": outbox.last_code(PHONE)}, headers=h
    )
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["due_on"]
    r = c.post("/api/v1/me/privacy/requests", json={"kind": "nonsense"}, headers=h)
    assert r.status_code == 422
    assert client_as().get(f"/api/v1/me/privacy/requests/{request_id}").status_code == 404
    page = c.get("/privacy/centre")
    assert (
        page.status_code == 200 and "隐私中心" in page.text and PHONE in page.text and request_id in page.text
    )
    page = c.get(f"/privacy/centre/requests/{request_id}")
    assert page.status_code == 200 and "投诉与异议" in page.text


def test_pages_drive_a_request_and_a_copy(
    runtime: Runtime, outbox: Outbox, client_as: ClientAs, run_jobs: Any
) -> None:
    user = register_user(runtime, outbox, PHONE)
    c = client_as(user)
    token = csrf(c)
    r = c.post(
        "/privacy/centre/requests",
        data={"kind": "deletion", "field": "display_name", "details": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "/privacy/centre/requests/prq_" in r.headers["location"]
    request_path = r.headers["location"].split("?")[0]
    r = c.post(
        request_path + "/confirm",
        data={"code": outbox.last_code(PHONE), "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "已受理" in c.get(request_path).text
    r = c.post("/privacy/centre/exports", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    export_page = r.headers["location"]
    run_jobs()
    page = c.get(export_page)
    assert page.status_code == 200 and "download-json" in page.text
    link = page.text.split('id="download-pdf" href="')[1].split('"')[0].replace("&amp;", "&")
    pdf = c.get(link)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    r = c.post(
        "/privacy/centre/preferences",
        data={"marketing_email": "on", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert c.get("/api/v1/me/privacy/preferences").json() == {
        "marketing_sms": False,
        "marketing_email": True,
        "marketing_consent": True,
    }


def test_operator_dashboard_needs_a_sub_role_and_reveals_with_a_reason(
    runtime: Runtime, outbox: Outbox, client_as: ClientAs
) -> None:
    user = register_user(runtime, outbox, PHONE)
    c = client_as(user)
    h = {"X-CSRF-Token": csrf(c)}
    request_id = c.post(
        "/api/v1/me/privacy/requests", json={"kind": "deletion", "details": "删除我的称呼"}, headers=h
    ).json()["request_id"]
    c.post(
        f"/api/v1/me/privacy/requests/{request_id}/confirm", json={"code": outbox.last_code(PHONE)}, headers=h
    )
    nobody = client_as(make_operator(runtime, "ops@example.com").user_id, role="operator")
    assert nobody.get("/api/v1/operator/privacy/requests").status_code == 403
    assert c.get("/api/v1/operator/privacy/requests").status_code == 403  # ordinary users: never
    officer = client_as(
        make_operator(runtime, "dpo@example.com", ("privacy_officer",)).user_id, role="operator"
    )
    r = officer.get("/api/v1/operator/privacy/requests")
    assert (
        r.status_code == 200
        and [i["id"] for i in r.json()] == [request_id]
        and r.json()[0]["details"] is None
    )
    page = officer.get("/operator/privacy/requests")
    assert page.status_code == 200 and request_id in page.text
    token = csrf(officer)
    page = officer.post(
        f"/operator/privacy/requests/{request_id}/reveal",
        data={"reason": "request_handling", "csrf_token": token},
    )
    assert page.status_code == 200 and "删除我的称呼" in page.text
    r = officer.post(
        f"/operator/privacy/requests/{request_id}/resolve",
        data={"outcome": "rejected", "note": "", "csrf_token": token},
    )
    assert r.status_code == 422 and "理由" in r.text
    r = officer.post(
        f"/api/v1/operator/privacy/requests/{request_id}/resolve",
        json={"outcome": "completed", "note": "已删除"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 200 and r.json()["status"] == "completed"
    mine = c.get("/api/v1/me/privacy").json()
    (access,) = [s for s in mine["sections"] if s["key"] == "staff_access"]
    assert access["records"][0]["reason"] == "处理您的个人信息请求"
    assert officer.get("/operator/privacy/calendar?year=2026").status_code == 200
    assert officer.get("/operator/privacy/staff").status_code == 200


def test_cancellation_page_explains_and_unsubscribe_link_works(
    runtime: Runtime, outbox: Outbox, client_as: ClientAs, client: Any
) -> None:
    from qianshu.privacy import preferences

    user = register_user(runtime, outbox, PHONE)
    c = client_as(user)
    page = c.get("/privacy/centre/cancel")
    assert page.status_code == 200 and "冷静期" in page.text
    assert c.get("/api/v1/me/privacy/cancellation").json()["can_cancel"] is True
    with runtime.transaction() as s:
        preferences.set_preferences(
            session=s, clock=runtime.clock, user_id=user, marketing_sms=True, marketing_email=False
        )
        link_token = preferences.unsubscribe_token(session=s, user_id=user)
    assert client.get(f"/privacy/unsubscribe?u={user}&t={link_token}").status_code == 200
    client.get("/privacy")
    r = client.post(
        "/privacy/unsubscribe",
        data={"user_id": user, "token": link_token, "csrf_token": client.cookies.get("qs_csrf")},
    )
    assert r.status_code == 200 and "unsubscribed" in r.text
    assert c.get("/api/v1/me/privacy/preferences").json()["marketing_sms"] is False
    # a forged token with characters outside ASCII is a bad link (422), never a 500
    for token in ("退订" * 8, "é" + link_token[1:]):
        bad = client.post("/api/v1/privacy/unsubscribe", json={"user_id": user, "token": token})
        assert bad.status_code == 422 and bad.json()["type"].endswith("/invalid-input"), bad.text
