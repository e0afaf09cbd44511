"""The app shell: problem+json errors, security headers, body limits."""

from __future__ import annotations

from typing import Any


def test_unknown_route_is_problem_json(client: Any) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "https://qianshu.dev/problems/not-found"
    assert body["status"] == 404


def test_security_headers_present(client: Any) -> None:
    r = client.get("/api/nope")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-request-id"]
