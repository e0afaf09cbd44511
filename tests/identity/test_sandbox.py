"""The sandbox provider: signed requests only, documented answers, mounted on the platform itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.identity import request_signing
from tests.identity.conftest import make_id
from tests.identity.loopback import SECRET, IdentitySandbox, serve


def _post(
    sandbox: IdentitySandbox, clock: FrozenClock, body: dict[str, Any], *, secret: str = SECRET
) -> httpx.Response:
    raw = json.dumps(body).encode()
    path = httpx.URL(sandbox.url).path + "/v1/elements"
    headers = request_signing.sign(secret.encode(), method="POST", path=path, body=raw, now=clock.now())
    headers["content-type"] = "application/json"
    return httpx.post(sandbox.url + "/v1/elements", content=raw, headers=headers, timeout=5)


BODY = {"reference": "idv_test", "check": "two_elements", "name": "张三", "id_number": make_id()}


def test_signed_requests_get_documented_answers(
    identity_sandbox: IdentitySandbox, clock: FrozenClock
) -> None:
    assert _post(identity_sandbox, clock, BODY).json()["result"] == "match"
    mismatch = _post(identity_sandbox, clock, {**BODY, "id_number": make_id(seq="991")}).json()
    assert (mismatch["result"], mismatch["mismatched"]) == ("mismatch", ["name"])
    bad_check = make_id()[:17] + ("1" if make_id()[17] == "0" else "0")
    assert _post(identity_sandbox, clock, {**BODY, "id_number": bad_check}).json()["result"] == "no_record"
    assert _post(identity_sandbox, clock, {**BODY, "id_number": make_id(seq="998")}).status_code == 503
    assert _post(identity_sandbox, clock, {**BODY, "check": "three_elements"}).status_code == 422
    # the sandbox log masks the ID number
    assert all("*" in call.id_number_masked for call in identity_sandbox.provider.calls)


def test_unsigned_stale_or_replayed_requests_are_refused(
    identity_sandbox: IdentitySandbox, clock: FrozenClock
) -> None:
    assert _post(identity_sandbox, clock, BODY, secret="wrong").status_code == 401
    assert httpx.post(identity_sandbox.url + "/v1/elements", json=BODY, timeout=5).status_code == 401
    raw = json.dumps(BODY).encode()
    path = httpx.URL(identity_sandbox.url).path + "/v1/elements"
    headers = request_signing.sign(SECRET.encode(), method="POST", path=path, body=raw, now=clock.now())
    forged = {**headers, request_signing.SIGNATURE_HEADER: "v1=\u00e9" + headers[request_signing.SIGNATURE_HEADER][4:]}
    forged_bytes = {k: v.encode("latin-1") for k, v in forged.items()}
    refused = httpx.post(identity_sandbox.url + "/v1/elements", content=raw, headers=forged_bytes, timeout=5)
    assert refused.status_code == 401  # a signature with a non-ASCII character: refused, not a 500
    first = httpx.post(identity_sandbox.url + "/v1/elements", content=raw, headers=headers, timeout=5)
    replay = httpx.post(identity_sandbox.url + "/v1/elements", content=raw, headers=headers, timeout=5)
    assert (first.status_code, replay.status_code) == (200, 401)
    from datetime import timedelta

    old = request_signing.sign(
        SECRET.encode(), method="POST", path=path, body=raw, now=clock.now() - timedelta(minutes=6)
    )
    assert (
        httpx.post(identity_sandbox.url + "/v1/elements", content=raw, headers=old, timeout=5).status_code
        == 401
    )


def test_a_wrong_shared_secret_leaves_checks_pending(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    from pydantic import SecretStr

    runtime.settings.identity_hmac_secret = SecretStr("not-the-sandbox-secret")
    client = client_as(make_user(["sensitive.id_number"]))
    vid = client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    r = client.post(
        f"/api/v1/identity/verifications/{vid}/elements", json={"name": "张三", "id_number": make_id()}
    )
    assert r.json()["status"] == "pending"


def test_the_platform_reaches_its_own_mounted_sandbox_over_http(
    make_user: Callable[..., str], app: Any, runtime: Runtime, client_as: Callable[..., TestClient]
) -> None:
    with serve(app, "qianshu-app") as port:
        runtime.settings.public_base_url = f"http://127.0.0.1:{port}"
        runtime.settings.identity_url = None  # default: <public_base_url>/sandbox/identity
        client = client_as(make_user(["sensitive.id_number"]))
        vid = client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
        r = client.post(
            f"/api/v1/identity/verifications/{vid}/elements", json={"name": "张三", "id_number": make_id()}
        )
        assert r.json()["status"] == "verified", r.text
        calls = httpx.get(f"http://127.0.0.1:{port}/sandbox/identity", timeout=5)
        assert calls.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"sandbox": False}])
def test_sandbox_is_not_mounted_in_production(client: TestClient) -> None:
    assert client.get("/sandbox/identity").status_code == 404
    assert client.post("/sandbox/identity/v1/elements", json=BODY).status_code == 404
