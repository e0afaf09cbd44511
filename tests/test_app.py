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


def test_demo_defaults_refused_on_a_public_url(tmp_path: Any) -> None:
    from qianshu.config import Settings

    local = Settings(data_dir=tmp_path)
    assert local.is_loopback and local.unsafe_defaults() == []
    public = Settings(data_dir=tmp_path, public_base_url="https://sign.example.com")
    assert public.unsafe_defaults() == ["sandbox", "demo"]
    chosen = Settings(data_dir=tmp_path, public_base_url="https://demo.example.com", sandbox=True, demo=False)
    assert chosen.unsafe_defaults() == []


def test_public_url_follows_host_and_port_unless_set(tmp_path: Any) -> None:
    from qianshu.config import Settings

    assert Settings(data_dir=tmp_path, port=9001).public_base_url == "http://127.0.0.1:9001"
    assert Settings(data_dir=tmp_path, port=9001, public_base_url="https://x.example/").public_base_url == (
        "https://x.example"
    )
