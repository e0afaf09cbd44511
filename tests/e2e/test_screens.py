"""Key pages at phone (375 px) and desktop (1280 px) size: no sideways scrolling, screenshots to look at.

Screenshots land in tests/e2e/artifacts/ (git-ignored): `<page>-<size>.png`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer, screenshot
from tests.e2e.flows import create_operator, log_in_with_password, log_out

pytestmark = pytest.mark.e2e

SIZES = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]


def _fits(page: Any) -> None:
    overflow = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            return [...document.querySelectorAll('body *')]
              .filter(el => el.closest('.table-wrap') === null)
              .filter(el => el.getBoundingClientRect().right > width + 1)
              .map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className)
              .slice(0, 5);
        }"""
    )
    assert overflow == [], f"elements stick out of the viewport: {overflow}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _cjk_fonts_only(page: Any) -> None:
    """Every text node in the page renders with an installed CJK-capable font (no tofu)."""
    families = page.evaluate(
        """() => [...new Set([...document.querySelectorAll('h1, h2, p, a, label, button, td, th, dd')]
              .map(el => getComputedStyle(el).fontFamily.split(',')[0].trim().replace(/"/g, '')))]"""
    )
    assert set(families) <= {"Noto Sans CJK SC", "ui-monospace"}, families


@pytest.mark.parametrize("viewport", SIZES)
def test_public_pages_fit_the_screen(new_page: Any, viewport: dict[str, int]) -> None:
    page = new_page(viewport)
    size = "phone" if viewport == PHONE else "desktop"
    for name, path, ready in [
        ("home", "/", "#hero-title"),
        ("register", "/register", "#send-code"),
        ("register-email", "/register?channel=email", "input[name=email]"),
        ("login", "/login", "input[name=login]"),
        ("login-sms", "/login?tab=sms", "input[name=phone]"),
        ("privacy", "/privacy", "#policy-text"),
        ("sandbox-sms", "/sandbox/sms", "#sandbox-filter"),
    ]:
        page.goto(path)
        page.wait_for_selector(ready)
        page.wait_for_function("document.documentElement.classList.contains('js')")
        _fits(page)
        _cjk_fonts_only(page)
        screenshot(page, f"{name}-{size}")


@pytest.mark.parametrize("viewport", SIZES)
def test_account_pages_fit_the_screen(new_page: Any, live_server: LiveServer, viewport: dict[str, int]) -> None:
    email, password = create_operator(live_server, roles=("privacy_officer",))
    page = new_page(viewport)
    size = "phone" if viewport == PHONE else "desktop"
    log_in_with_password(page, email, password)
    for name, path, ready in [
        ("account", "/account", "#profile"),
        ("operator", "/operator", "#operator-users"),
        ("operator-users", "/operator/users", "table"),
        ("operator-privacy", "/operator/privacy", "#publish-form"),
        ("operator-outbox", "/operator/outbox", "#outbox-filter"),
    ]:
        page.goto(path)
        page.wait_for_selector(ready)
        _fits(page)
        screenshot(page, f"{name}-{size}")
    log_out(page)
