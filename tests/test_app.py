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


def test_openapi_documents_every_error_as_problem_json_and_files_by_their_type(client: Any) -> None:
    spec = client.get("/api/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Problem"]["required"] == ["type", "title", "status"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operations = [(path, op) for path, item in spec["paths"].items() for op in item.values()]
    assert len(operations) > 150
    for path, op in operations:
        assert op["responses"]["default"]["content"] == problem, path
        if "422" in op["responses"]:
            assert op["responses"]["422"]["content"] == problem, path
    # a real 422 has that shape
    bad = client.post("/api/v1/sessions", json={"login": 7})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status"} <= bad.json().keys()
    files = {
        "/api/v1/contracts/{contract_id}/pdf": "application/pdf",
        "/api/v1/sign/{token}/pdf": "application/pdf",
        "/api/v1/evidence-reports/{report_id}/bundle": "application/zip",
        "/orgs/{org_id}/seals/{seal_id}/image": "image/png",
        "/log/tile/{tile_path}": "application/octet-stream",
    }
    for path, media in files.items():
        (key,) = [p for p in spec["paths"] if p.endswith(path)]
        assert list(spec["paths"][key]["get"]["responses"]["200"]["content"]) == [media], key
    # credentials: required, optional or none, as each operation's dependencies say
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "session_cookie"}
    signed_in = [{"bearer": []}, {"session_cookie": []}]
    assert spec["paths"]["/api/v1/contracts"]["post"]["security"] == signed_in  # a person or an API key
    assert spec["paths"]["/api/v1/operator/messages"]["get"]["security"] == signed_in
    assert spec["paths"]["/api/v1/templates"]["get"]["security"] == [*signed_in, {}]  # A7: anyone may browse
    assert "security" not in spec["paths"]["/log/checkpoint"]["get"]
    assert "security" not in spec["paths"]["/api/v1/sessions"]["post"]
