"""Helpers for the integrator API tests: organisations, API keys, PDFs, a loopback webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient

USCC = ["91350100M000100Y43", "91330100716105852F", "914403001922038216"]
ALL_SCOPES = ["contracts:read", "contracts:write", "webhooks:manage"]


def problem(r: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if slug is not None:
        assert body["type"].endswith("/" + slug), body["type"]
    return body


def make_org(owner: Any, uscc: str, name: str = "福建测试科技有限公司") -> str:
    r = owner.post("/api/v1/orgs", json={"name": name, "uscc": uscc})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def make_key(owner: Any, org_id: str, scopes: list[str] | None = None, rate_limit: int = 600) -> dict[str, Any]:
    r = owner.post(
        "/api/v1/api-keys",
        json={"org_id": org_id, "name": "ERP", "scopes": scopes or ALL_SCOPES, "rate_limit": rate_limit},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def key_client(app: Any, secret: str, opened: list[Any]) -> Any:
    c = TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {secret}"})
    c.__enter__()
    opened.append(c)
    return c


def pdf_bytes(runtime: Any) -> bytes:
    from qianshu.contracts import template_pdf

    return template_pdf.render_pdf(
        title="采购合同", text="甲方与乙方就采购事项达成协议。", font_path=runtime.settings.reportlab_cjk_font
    )


def upload(c: Any, runtime: Any) -> str:
    r = c.post(
        "/api/v1/documents",
        content=pdf_bytes(runtime),
        headers={"content-type": "application/pdf"},
        params={"title": "采购合同"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def contract_body(document_id: str, phone: str = "13800138001") -> dict[str, Any]:
    return {
        "document_id": document_id,
        "title": "采购合同",
        "recipients": [
            {
                "phone": phone,
                "fields": [{"kind": "signature", "page": 0, "x1": 80, "y1": 90, "x2": 230, "y2": 150}],
            }
        ],
    }


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on loopback; answers with the statuses in `replies`, then 200."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(size)
            with lock:
                receiver.requests.append(Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body))
                status = receiver.replies.pop(0) if receiver.replies else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # the stdlib's name
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


Factory = Callable[..., Any]
