"""Pages carry the security headers, a CSRF cookie and no inline script or style (CSP)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

HTML = {"accept": "text/html"}
POST_FORM = re.compile(r"<form\b[^>]*method=[\"']post[\"'][^>]*>(.*?)</form>", flags=re.I | re.S)
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "qianshu" / "web" / "templates"


def test_pages_send_security_headers(client: Any) -> None:
    r = client.get("/", headers=HTML)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-request-id"]


def test_first_visit_sets_httponly_csrf_cookie_and_only_that(client: Any) -> None:
    r = client.get("/", headers=HTML)
    cookies = r.headers.get_list("set-cookie")
    assert len(cookies) == 1
    assert cookies[0].startswith("qs_csrf=") and "HttpOnly" in cookies[0] and "SameSite=lax" in cookies[0]


def test_a_csrf_token_with_non_ascii_characters_is_refused_not_a_server_error(client: Any) -> None:
    from qianshu.core.security import equal_secrets

    client.get("/", headers=HTML)
    client.cookies.set("qs_session", "not-a-session")
    token = client.cookies.get("qs_csrf")
    for supplied in ("\u00e9" * 8, "\u00ff" + token[1:]):  # a header is read as Latin-1
        r = client.post("/api/v1/sessions", json={}, headers={"X-CSRF-Token": supplied.encode("latin-1")})
        assert r.status_code == 403 and r.json()["type"].endswith("/csrf-failed"), r.text
    assert equal_secrets("签署", "签署") and not equal_secrets("abc", "签署") and not equal_secrets("abc", "abd")


def test_static_assets_are_served(client: Any) -> None:
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "Noto Sans CJK SC" in css.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/static/favicon.svg").status_code == 200


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_have_no_inline_script_or_style() -> None:
    offenders = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b[^>]*>", text, flags=re.I):
            tag = match.group(0)
            if 'type="application/json"' in tag:
                continue  # a data block (filled with |tojson): never executed, CSP has nothing to allow
            if "src=" not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: inline <script>")
        if re.search(r"<style\b", text, flags=re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: <style> element")
        if re.search(r"\sstyle\s*=", text, flags=re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: style= attribute")
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text, flags=re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: on…= event handler")
        if re.search(r"href\s*=\s*[\"']javascript:", text, flags=re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: javascript: URL")
    assert offenders == []


def test_post_forms_carry_the_csrf_field() -> None:
    offenders = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for form in POST_FORM.finditer(text):
            if "csrf_input" not in form.group(1) and "csrf_token" not in form.group(1):
                offenders.append(str(path.relative_to(TEMPLATES)))
    assert offenders == []
