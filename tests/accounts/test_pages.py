"""The accounts pages: plain forms with CSRF, post/redirect/get, readable errors, both languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.accounts.conftest import EMAIL, PASSWORD, PHONE, Outbox

HTML = {"accept": "text/html"}


def _csrf(client: Any) -> str:
    if not client.cookies.get("qs_csrf"):
        client.get("/login")
    return str(client.cookies.get("qs_csrf"))


def _post(client: Any, path: str, data: dict[str, str], **kw: Any) -> Any:
    return client.post(
        path, data={"csrf_token": _csrf(client), **data}, headers=HTML, follow_redirects=False, **kw
    )


def test_register_page_has_stable_form_controls(client: Any) -> None:
    page = client.get("/register", headers=HTML)
    assert page.status_code == 200
    html = page.text
    assert 'name="phone"' in html and 'id="send-code"' in html and 'name="csrf_token"' in html
    assert 'id="tab-phone"' in html and 'id="tab-email"' in html
    assert 'name="email"' in client.get("/register?channel=email", headers=HTML).text


def test_register_through_the_forms(client: Any, outbox: Outbox, policy_version: str) -> None:
    r = _post(client, "/register/start", {"channel": "phone", "phone": "138 1234 5678"})
    assert r.status_code == 303
    step2 = client.get(r.headers["location"], headers=HTML).text
    for needle in (
        'name="code"',
        'name="password"',
        'name="accept_policy"',
        'id="submit"',
        "138****5678",
        'href="/privacy"',
    ):
        assert needle in step2
    assert PHONE not in step2 and PHONE not in r.headers["location"]
    r = _post(
        client,
        "/register/complete",
        {"code": outbox.last_code(), "password": PASSWORD, "accept_policy": policy_version},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/account?notice=accounts_registered")
    assert "qs_session=" in r.headers["set-cookie"]
    account = client.get("/account?notice=accounts_registered", headers=HTML)
    assert account.status_code == 200
    assert (
        "138****5678" in account.text
        and "注册成功" in account.text
        and 'id="revoke-others"' not in account.text
    )


def test_register_errors_are_readable_and_keep_the_form(
    client: Any, outbox: Outbox, policy_version: str
) -> None:
    r = _post(client, "/register/start", {"channel": "phone", "phone": "12345"})
    assert r.status_code == 422 and "请输入 11 位中国大陆手机号" in r.text and 'value="12345"' in r.text
    assert "{" not in r.text.split("<main", 1)[1].split("</main>", 1)[0].replace("{{", "")
    _post(client, "/register/start", {"channel": "phone", "phone": PHONE})
    r = _post(client, "/register/complete", {"code": outbox.last_code(), "password": PASSWORD})
    assert r.status_code == 422 and "隐私政策" in r.text and 'name="code"' in r.text
    r = _post(
        client, "/register/complete", {"code": "000000", "password": "short", "accept_policy": policy_version}
    )
    assert r.status_code == 422 and "密码至少需要 8 个字符" in r.text
    r = _post(
        client, "/register/complete", {"code": "abc", "password": PASSWORD, "accept_policy": policy_version}
    )
    assert r.status_code == 422 and "6 位数字" in r.text


def test_register_complete_without_a_started_flow_says_so(client: Any) -> None:
    r = _post(client, "/register/complete", {"code": "123456", "password": PASSWORD, "accept_policy": "1.0"})
    assert r.status_code == 422 and "验证已过期" in r.text and 'id="send-code"' in r.text


def test_forms_without_csrf_token_are_refused_readably(client: Any) -> None:
    client.get("/register")
    r = client.post(
        "/register/start", data={"channel": "phone", "phone": PHONE}, headers=HTML, follow_redirects=False
    )
    assert r.status_code == 403 and "页面已过期" in r.text
    r = client.post("/login", data={"login": PHONE, "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403


def test_english_pages(client: Any) -> None:
    page = client.get("/register?lang=en", headers=HTML)
    assert "Create an account" in page.text and 'action="/register/start?lang=en"' in page.text
    r = _post(client, "/register/start?lang=en", {"channel": "phone", "phone": "12"})
    assert r.status_code == 422 and "Enter an 11-digit mainland China mobile number" in r.text
    r = _post(client, "/register/start?lang=en", {"channel": "email", "email": EMAIL})
    assert r.headers["location"] == "/register?step=code&lang=en"


def test_account_page_requires_login(client: Any) -> None:
    r = client.get("/account", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Faccount"


def test_password_login_page_and_next(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    register()
    client.cookies.clear()
    page = client.get("/login?next=/account/password", headers=HTML).text
    assert 'name="login"' in page and 'name="password"' in page and 'id="submit"' in page
    assert 'value="/account/password"' in page
    r = _post(client, "/login", {"login": PHONE, "password": "Wrong-pass-1", "next": "/account/password"})
    assert r.status_code == 401 and "账号或密码错误" in r.text and f'value="{PHONE}"' in r.text
    r = _post(client, "/login", {"login": PHONE, "password": PASSWORD, "next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/account"
    client.cookies.clear()
    r = _post(client, "/login", {"login": PHONE, "password": PASSWORD, "next": "/account/password"})
    assert r.headers["location"] == "/account/password"


def test_locked_login_page_shows_the_unlock_time(
    client: Any, register: Callable[..., dict[str, Any]], runtime: Runtime, clock: FrozenClock
) -> None:
    register()
    client.cookies.clear()
    for _ in range(runtime.settings.login_max_failures):
        r = _post(client, "/login", {"login": PHONE, "password": "Wrong-pass-1"})
    assert r.status_code == 429 and "2026-01-05 10:15" in r.text and "北京时间" in r.text


def test_sms_login_through_the_forms(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox
) -> None:
    register()
    client.cookies.clear()
    page = client.get("/login?tab=sms", headers=HTML).text
    assert 'name="phone"' in page and 'id="send-code"' in page
    r = _post(client, "/login/sms/start", {"phone": PHONE, "next": "/account"})
    assert r.status_code == 303 and r.headers["location"] == "/login?tab=sms&step=code"
    page = client.get(r.headers["location"], headers=HTML).text
    assert 'name="code"' in page and "138****5678" in page
    r = _post(client, "/login/sms", {"code": "000000" if outbox.last_code() != "000000" else "111111"})
    assert r.status_code == 422 and "验证码错误" in r.text
    r = _post(client, "/login/sms", {"code": outbox.last_code()})
    assert r.status_code == 303 and r.headers["location"] == "/account"


def test_logout_ends_the_session(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    register()
    assert client.get("/account", headers=HTML, follow_redirects=False).status_code == 200
    r = _post(client, "/logout", {})
    assert r.status_code == 303 and r.headers["location"] == "/?notice=logged_out"
    assert client.get("/account", headers=HTML, follow_redirects=False).status_code == 303


def test_account_page_lists_devices_and_logs_one_out(
    client: Any, register: Callable[..., dict[str, Any]], app: Any
) -> None:
    from fastapi.testclient import TestClient

    register()
    with TestClient(app, base_url="http://testserver") as other:
        other.post("/api/v1/sessions", json={"login": PHONE, "password": PASSWORD})
        page = client.get("/account", headers=HTML).text
        ids = re.findall(r'id="revoke-(ses_[0-9a-z]{20})"', page)
        assert len(ids) == 2 and 'id="revoke-others"' in page and "本设备" in page
        current = client.get("/api/v1/sessions").json()
        other_id = next(s["id"] for s in current if not s["current"])
        r = _post(client, f"/account/sessions/{other_id}/revoke", {})
        assert r.status_code == 303 and "accounts_session_revoked" in r.headers["location"]
        assert other.get("/api/v1/me").status_code == 401
        r = _post(client, "/account/sessions/ses_nonexistent0000000000/revoke", {})
        assert r.status_code == 404 and "未找到该登录设备" in r.text


def test_change_password_page(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    register()
    assert 'name="current_password"' in client.get("/account/password", headers=HTML).text
    r = _post(client, "/account/password", {"current_password": "nope-nope-1", "new_password": "New-pass-77"})
    assert r.status_code == 401 and "当前密码错误" in r.text
    r = _post(client, "/account/password", {"current_password": PASSWORD, "new_password": "New-pass-77"})
    assert r.status_code == 303 and "accounts_password_changed" in r.headers["location"]


def test_change_contact_pages(client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox) -> None:
    register()
    page = client.get("/account/contact?channel=email", headers=HTML).text
    assert 'name="email"' in page and 'name="password"' in page and 'id="send-code"' in page
    r = _post(client, "/account/contact/start", {"channel": "email", "email": EMAIL, "password": PASSWORD})
    assert r.status_code == 303
    assert "z***@example.com" in client.get(r.headers["location"], headers=HTML).text
    r = _post(client, "/account/contact/complete", {"code": outbox.last_code(EMAIL)})
    assert r.status_code == 303 and "accounts_contact_changed" in r.headers["location"]
    assert "z***@example.com" in client.get("/account", headers=HTML).text


def test_password_reset_pages(client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox) -> None:
    register()
    client.cookies.clear()
    assert 'name="login"' in client.get("/password-reset", headers=HTML).text
    r = _post(client, "/password-reset/start", {"login": PHONE})
    assert r.status_code == 303
    page = client.get(r.headers["location"], headers=HTML).text
    assert "如果该账号已注册" in page and 'name="code"' in page and 'name="password"' in page
    r = _post(client, "/password-reset/complete", {"code": outbox.last_code(), "password": "Brand-new-88"})
    assert r.status_code == 303 and r.headers["location"] == "/login?notice=accounts_password_reset"
    r = _post(client, "/login", {"login": PHONE, "password": "Brand-new-88"})
    assert r.status_code == 303


def test_pages_send_people_to_the_policy_after_a_major_update(
    client: Any, register: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qianshu.privacy import service as privacy_service

    register()
    monkeypatch.setattr(privacy_service, "needs_reconsent", lambda *, session, user_id: True)
    r = client.get("/account?x=1", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/privacy/accept?next=%2Faccount%3Fx%3D1"
    assert _post(client, "/logout", {}).status_code == 303


def test_operator_pages_need_the_operator_role(
    client: Any, register: Callable[..., dict[str, Any]], runtime: Runtime, clock: FrozenClock
) -> None:
    from qianshu.accounts import service as accounts_service

    assert client.get("/operator/users", headers=HTML, follow_redirects=False).status_code == 303
    register()
    r = client.get("/operator/users", headers=HTML, follow_redirects=False)
    assert r.status_code == 403 and "仅限平台运营人员" in r.text
    with runtime.transaction() as s:
        accounts_service.create_operator(
            session=s, clock=clock, email="ops@example.com", password="Ops-pass-123"
        )
    client.cookies.clear()
    _post(client, "/login", {"login": "ops@example.com", "password": "Ops-pass-123"})
    page = client.get("/operator/users", headers=HTML)
    assert page.status_code == 200 and page.text.count("usr_") >= 2 and PHONE not in page.text


def test_nothing_odd_gives_a_500(client: Any) -> None:
    cases = [
        ("/register/start", {"channel": "fax", "phone": "x" * 5000}),
        ("/register/start", {"channel": "email", "email": ""}),
        ("/login", {"login": "", "password": ""}),
        ("/login", {"login": "a" * 2000, "password": "b" * 2000}),
        ("/login/sms/start", {"phone": "<script>"}),
        ("/login/sms", {"code": "123456"}),
        ("/password-reset/start", {"login": "@@"}),
        ("/password-reset/complete", {"code": "1", "password": "x"}),
    ]
    for path, data in cases:
        r = _post(client, path, data)
        assert 300 <= r.status_code < 500, (path, r.status_code)
        assert "<script>" not in r.text
    r = client.post(
        "/login", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert 400 <= r.status_code < 500
