"""The operator console's start page: operators only, with a tile per operator tool."""

from __future__ import annotations

from typing import Any

import pytest

from qianshu.core.runtime import Runtime

HTML = {"accept": "text/html"}
PASSWORD = "Qianshu-web-2026!"


@pytest.fixture
def operator_client(client: Any, runtime: Runtime) -> Any:
    """The test client signed in as an operator (session cookie set)."""
    from qianshu.accounts import service as accounts_service
    from qianshu.core.security import SESSION_COOKIE

    with runtime.transaction() as session:
        accounts_service.create_operator(
            session=session, clock=runtime.clock, email="ops@example.cn", password=PASSWORD
        )
        new = accounts_service.login_with_password(
            session=session, clock=runtime.clock, login="ops@example.cn", password=PASSWORD
        )
    client.cookies.set(SESSION_COOKIE, new.token)
    return client


def test_console_sends_strangers_to_login(client: Any) -> None:
    r = client.get("/operator", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Foperator"


def test_console_links_every_operator_tool(operator_client: Any) -> None:
    r = operator_client.get("/operator", headers=HTML)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    for href in ("/operator/users", "/operator/outbox", "/operator/privacy", "/sandbox/sms"):
        assert f'href="{href}"' in r.text
    assert 'href="/operator" aria-current="page"' in r.text


@pytest.mark.parametrize("settings_overrides", [{"sandbox": False}])
def test_console_hides_sandbox_tools_in_production(operator_client: Any) -> None:
    r = operator_client.get("/operator", headers=HTML)
    assert 'href="/sandbox/sms"' not in r.text
    assert 'href="/operator/users"' in r.text


def test_header_knows_the_operator_on_every_page(operator_client: Any) -> None:
    for path in ("/", "/no-such-page"):
        r = operator_client.get(path, headers=HTML)
        assert 'action="/logout"' in r.text, path
        assert 'href="/operator"' in r.text, path
        assert 'href="/account"' in r.text, path
        assert 'href="/register"' not in r.text.split("</header>")[0], path


def test_stale_session_cookie_is_treated_as_signed_out(client: Any) -> None:
    client.cookies.set("qs_session", "not-a-real-token")
    r = client.get("/no-such-page", headers=HTML)
    assert r.status_code == 404
    assert 'action="/logout"' not in r.text
    assert 'href="/login"' in r.text
