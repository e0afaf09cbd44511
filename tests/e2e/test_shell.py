"""The layout in a real browser: home page, phone navigation, language switch, no CSP violations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.e2e


def _no_horizontal_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide in a {viewport}px viewport"


def _collect_console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_home_renders_chinese_on_desktop(desktop_page: Any) -> None:
    page = desktop_page
    errors = _collect_console_errors(page)
    page.goto("/")
    page.wait_for_selector("h1#hero-title")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "在线签合同" in page.inner_text("h1")
    nav = page.locator("#site-nav")
    assert nav.is_visible()
    assert nav.get_by_role("link", name="隐私政策").is_visible()
    assert nav.get_by_role("link", name="登录").is_visible()
    assert page.locator("#cookie-note").is_visible()
    assert page.locator(".sandbox-banner a[href='/sandbox/sms']").is_visible()
    # the stylesheet and script loaded under the CSP: the JS marker class is set, cards are styled
    page.wait_for_function("document.documentElement.classList.contains('js')")
    radius = page.eval_on_selector(".card", "el => getComputedStyle(el).borderRadius")
    assert radius == "10px"
    font = page.eval_on_selector("body", "el => getComputedStyle(el).fontFamily")
    assert "Noto Sans CJK SC" in font
    _no_horizontal_overflow(page)
    assert errors == []
    screenshot(page, "home-desktop")


def test_phone_nav_collapses_and_opens(phone_page: Any) -> None:
    page = phone_page
    errors = _collect_console_errors(page)
    page.goto("/")
    page.wait_for_function("document.documentElement.classList.contains('js')")
    toggle = page.locator("[data-nav-toggle]")
    assert toggle.is_visible()
    assert not page.locator("#site-nav").is_visible()
    _no_horizontal_overflow(page)
    screenshot(page, "home-phone")
    toggle.click()
    page.wait_for_selector("#site-nav.open")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.locator("#site-nav").get_by_role("link", name="注册").is_visible()
    screenshot(page, "home-phone-menu")
    page.keyboard.press("Escape")
    page.wait_for_selector("#site-nav:not(.open)", state="attached")
    assert not page.locator("#site-nav").is_visible()
    assert errors == []


def test_language_switch_remembers_english(desktop_page: Any) -> None:
    page = desktop_page
    page.goto("/privacy-missing-page?x=1")
    page.get_by_role("link", name="English").click()
    page.wait_for_selector("html[lang='en']")
    assert page.url.endswith("/privacy-missing-page?x=1")
    assert page.locator("#site-nav").get_by_role("link", name="Log in").is_visible()
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Sign contracts online" in page.inner_text("h1")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["qs_lang"]["value"] == "en"
    assert cookies["qs_lang"]["httpOnly"] is True
    screenshot(page, "home-desktop-en")
    page.get_by_role("link", name="中文").click()
    page.wait_for_selector("html[lang='zh-CN']")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_error_page_is_a_page_not_json(new_page: Any, viewport: dict[str, int]) -> None:
    page = new_page(viewport)
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    page.wait_for_selector("#error-title")
    assert page.inner_text("#error-title") == "未找到"
    assert page.get_by_role("link", name="返回首页").is_visible()
    _no_horizontal_overflow(page)


def test_api_reference_renders_from_this_origin_under_the_csp(desktop_page: Any, live_server: Any) -> None:
    """The Developers page links /api/docs: Swagger UI, served locally, shows every tag and the credentials."""
    page = desktop_page
    errors = _collect_console_errors(page)
    origin, outside = live_server("/"), []
    page.on("request", lambda r: None if r.url.startswith(origin) else outside.append(r.url))
    page.goto("/api/docs")
    page.wait_for_selector("#swagger-ui .opblock-tag", timeout=20_000)
    tags = page.locator("#swagger-ui .opblock-tag").all_inner_texts()
    assert {"contracts", "integrations", "transparency log"} <= {t.strip() for t in tags}
    assert page.locator("#swagger-ui button.authorize").is_visible()
    page.locator("#swagger-ui .opblock-tag", has_text="contracts").first.click()
    page.wait_for_selector("#swagger-ui .opblock-summary-path[data-path='/api/v1/contracts']")
    assert errors == [] and outside == []
    screenshot(page, "api-docs")
