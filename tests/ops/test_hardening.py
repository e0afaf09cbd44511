"""Small security fixes: CSRF rotation at login, oversized chunked bodies, sandbox secrets on serve."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from qianshu.config import Settings
from qianshu.ops import service as ops_service
from tests.ops.conftest import OPERATOR_PASSWORD

HTML = {"accept": "text/html"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "password_hash_parallelism": 1,
        "max_json_bytes": 4096,
    }


def test_csrf_token_is_rotated_at_login_and_logout(client: Any, operator_headers: dict[str, str]) -> None:
    client.get("/login", headers=HTML)
    before = str(client.cookies.get("qs_csrf"))
    assert len(before) == 43
    r = client.post(
        "/login",
        data={"login": "ops@example.cn", "password": OPERATOR_PASSWORD, "csrf_token": before},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    after = str(client.cookies.get("qs_csrf"))
    assert after != before and len(after) == 43
    # The token an attacker may have planted or read before the login no longer works.
    r = client.post("/logout", data={"csrf_token": before}, headers=HTML, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/logout", data={"csrf_token": after}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert str(client.cookies.get("qs_csrf")) not in (before, after)  # and again at logout


def test_failed_login_keeps_the_token(client: Any, operator_headers: dict[str, str]) -> None:
    client.get("/login", headers=HTML)
    before = str(client.cookies.get("qs_csrf"))
    client.post(
        "/login",
        data={"login": "ops@example.cn", "password": "wrong-Password-1", "csrf_token": before},
        headers=HTML,
        follow_redirects=False,
    )
    assert client.cookies.get("qs_csrf") == before


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"login": "'
    sent = 11
    while sent < total:
        yield b"a" * 1000
        sent += 1000
    yield b'", "password": "x"}'


def test_chunked_json_over_the_limit_is_413(client: Any) -> None:
    r = client.post(
        "/api/v1/sessions",
        content=_chunks(20_000),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}  # really chunked
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 413


def test_chunked_json_under_the_limit_still_works(client: Any) -> None:
    r = client.post(
        "/api/v1/sessions",
        content=iter([b'{"login": "ops@example.cn", ', b'"password": "wrong-Password-1"}']),
        headers={"content-type": "application/json"},
    )
    assert r.status_code in (401, 422), r.text  # parsed and answered, not refused as too large


def test_declared_json_over_the_limit_is_413(client: Any) -> None:
    r = client.post("/api/v1/sessions", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_sandbox_secrets_with_a_real_provider_are_named(settings: Settings) -> None:
    assert ops_service.sandbox_secrets_in_use(settings) == []  # sandbox providers: fine
    real = Settings(**{**settings.model_dump(), "sms_backend": "http"})
    assert ops_service.sandbox_secrets_in_use(real) == ["sms_hmac_secret"]
    own = Settings(**{**real.model_dump(), "sms_hmac_secret": SecretStr("k" * 40)})
    assert ops_service.sandbox_secrets_in_use(own) == []


def test_serve_refuses_the_sandbox_sms_secret(tmp_path: Path, db_backend: str) -> None:
    if db_backend != "sqlite":
        pytest.skip("a start-up refusal; the database is never reached")
    env = {
        **os.environ,
        "QIANSHU_DATA_DIR": str(tmp_path / "data"),
        "QIANSHU_SMS_BACKEND": "http",
        "QIANSHU_SMS_URL": "https://sms.example.cn/send",
        "QIANSHU_DEMO": "false",
    }
    env.pop("QIANSHU_SMS_HMAC_SECRET", None)
    proc = subprocess.run(
        [sys.executable, "-m", "qianshu.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.stdout, err)
    assert "QIANSHU_SMS_HMAC_SECRET" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "qianshu.db").exists()  # refused before touching anything
