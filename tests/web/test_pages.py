"""The shell's pages over HTTP: home in both languages, language cookie, operator console."""

from __future__ import annotations

from typing import Any

import pytest

HTML = {"accept": "text/html,application/xhtml+xml"}


def test_home_renders_in_chinese_by_default(client: Any) -> None:
    r = client.get("/", headers=HTML)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text
    assert "在线签合同" in r.text
    for href in ('href="/privacy"', 'href="/login"', 'href="/register"'):
        assert href in r.text
    assert 'href="/account"' not in r.text
    assert 'action="/logout"' not in r.text


def test_home_renders_in_english_with_query_or_cookie(client: Any) -> None:
    r = client.get("/?lang=en", headers=HTML)
    assert '<html lang="en">' in r.text
    assert "Sign contracts online" in r.text
    assert "在线签合同" not in r.text
    client.cookies.set("qs_lang", "en")
    r = client.get("/", headers=HTML)
    assert '<html lang="en">' in r.text


def test_unknown_locale_cookie_falls_back_to_chinese(client: Any) -> None:
    client.cookies.set("qs_lang", "fr")
    r = client.get("/", headers=HTML)
    assert '<html lang="zh-CN">' in r.text


def test_language_switch_sets_cookie_and_returns_to_page(client: Any) -> None:
    r = client.get("/lang/en", params={"next": "/privacy?tab=2"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/privacy?tab=2"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("qs_lang=en;")
    assert "HttpOnly" in cookie and "Path=/" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=31536000" in cookie
    r = client.get("/", headers=HTML)
    assert '<html lang="en">' in r.text
    client.get("/lang/zh-CN", follow_redirects=False)
    assert '<html lang="zh-CN">' in client.get("/", headers=HTML).text


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/a\nb", "",
     "/" + "x" * 3000],
    ids=["absolute", "scheme-relative", "backslash", "javascript", "newline", "empty", "too-long"],
)
def test_language_switch_refuses_foreign_redirects(client: Any, target: str) -> None:
    r = client.get("/lang/en", params={"next": target}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_language_switch_rejects_unknown_language(client: Any) -> None:
    r = client.get("/lang/klingon", headers=HTML, follow_redirects=False)
    assert r.status_code == 404
    assert "set-cookie" not in r.headers or "qs_lang" not in r.headers["set-cookie"]
    assert "<html" in r.text


def test_language_switch_link_points_back_here(client: Any) -> None:
    r = client.get("/no-such-page?x=1&lang=zh-CN", headers=HTML)
    assert 'href="/lang/en?next=/no-such-page%3Fx%3D1"' in r.text


def test_sandbox_banner_follows_the_setting(client: Any) -> None:
    assert 'href="/sandbox/sms"' in client.get("/", headers=HTML).text


@pytest.mark.parametrize("settings_overrides", [{"sandbox": False}])
def test_no_sandbox_banner_in_production(client: Any) -> None:
    r = client.get("/", headers=HTML)
    assert "sandbox-banner" not in r.text
    assert 'href="/sandbox/sms"' not in r.text


def test_footer_states_the_cookie_promise(client: Any) -> None:
    assert "只使用 Cookie 记住您的登录状态" in client.get("/", headers=HTML).text
    assert "cookies only to remember that you are logged in" in client.get("/?lang=en", headers=HTML).text


def test_notice_query_shows_only_catalog_messages(client: Any) -> None:
    r = client.get("/?notice=logged_out", headers=HTML)
    assert "您已安全退出" in r.text
    r = client.get("/?notice=%3Cscript%3E", headers=HTML)
    assert "<script>" not in r.text
    assert 'class="notice' not in r.text
    r = client.get("/?notice=nonexistent_key", headers=HTML)
    assert 'class="notice' not in r.text
