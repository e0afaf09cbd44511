"""Errors: an HTML page for browsers, RFC 9457 problem+json for API clients."""

from __future__ import annotations

from typing import Any

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_browser_gets_an_error_page(client: Any) -> None:
    r = client.get("/no-such-page", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "<h1 id=\"error-title\">未找到</h1>" in r.text
    assert 'href="/"' in r.text
    assert "请求编号：" + r.headers["x-request-id"] in r.text


def test_error_page_speaks_english_when_asked(client: Any) -> None:
    r = client.get("/no-such-page?lang=en", headers=HTML)
    assert "Not found" in r.text and "Back to the home page" in r.text


def test_api_client_gets_problem_json(client: Any) -> None:
    r = client.get("/no-such-page", headers={"accept": "application/json"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "https://qianshu.dev/problems/not-found"


def test_api_paths_get_problem_json_even_from_browsers(client: Any) -> None:
    r = client.get("/api/no-such-thing", headers=HTML)
    assert r.headers["content-type"].startswith("application/problem+json")


def _add_form_route(app: Any) -> None:
    async def probe() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route("/test-form", probe, methods=["POST"])


def test_form_post_without_csrf_shows_a_reload_page(app: Any, client: Any) -> None:
    _add_form_route(app)
    client.get("/")  # receive the CSRF cookie
    r = client.post("/test-form", data={"x": "1"}, headers=HTML)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "页面已过期" in r.text
    assert 'href="/test-form"' in r.text
    ok = client.post("/test-form", data={"csrf_token": client.cookies.get("qs_csrf")}, headers=HTML)
    assert ok.status_code == 200


def test_wrong_method_is_405_page(client: Any) -> None:
    client.get("/")
    token = client.cookies.get("qs_csrf")
    r = client.post("/lang/en", data={"csrf_token": token}, headers=HTML)
    assert r.status_code == 405
    assert "<html" in r.text
