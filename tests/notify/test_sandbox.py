"""The sandbox SMS provider: mounted on the platform in sandbox mode, standalone, and `qianshu sandbox`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.notify.providers import SIGNATURE_HEADER, TIMESTAMP_HEADER, HttpSmsSender, sign_request
from qianshu.notify.sandbox import local_provider
from tests.notify.conftest import CODE, PHONE
from tests.support.sandbox import DEFAULT_SECRET, free_port


def _signed(clock: Any, body: bytes, secret: str = DEFAULT_SECRET) -> dict[str, str]:
    ts = str(int(clock.now().timestamp()))
    return {
        "content-type": "application/json",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign_request(secret=secret.encode(), timestamp=ts, body=body),
    }


def _body(message_id: str = "msg_1", text: str = f"验证码 {CODE}") -> bytes:
    return json.dumps({"message_id": message_id, "to": PHONE, "text": text}, ensure_ascii=False).encode()


def test_mounted_sandbox_accepts_signed_messages(client: Any, runtime: Runtime, clock: FrozenClock) -> None:
    body = _body()
    r = client.post("/sandbox/sms", content=body, headers=_signed(clock, body))
    assert r.status_code == 202 and r.json()["status"] == "accepted"
    listed = client.get("/sandbox/sms/messages", params={"phone": PHONE}).json()["messages"]
    assert [m["id"] for m in listed] == [r.json()["id"]] and listed[0]["text"] == f"验证码 {CODE}"
    assert client.get("/sandbox/sms/messages", params={"phone": "13900000000"}).json() == {"messages": []}
    assert [m.id for m in local_provider(runtime).messages()] == [r.json()["id"]]


def test_mounted_sandbox_needs_no_csrf_token_but_a_signature(client: Any, clock: FrozenClock) -> None:
    client.cookies.set("qs_session", "whatever")  # a browser-like request with a cookie
    body = _body()
    bad = client.post("/sandbox/sms", content=body, headers=_signed(clock, body, secret="nope"))
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    assert client.get("/sandbox/sms/messages").json() == {"messages": []}


def test_mounted_sandbox_validates_queries(client: Any) -> None:
    assert client.get("/sandbox/sms/messages", params={"limit": 0}).status_code == 422
    assert client.get("/sandbox/sms/messages", params={"phone": "1" * 30}).status_code == 422


@pytest.mark.parametrize("settings_overrides", [{"sandbox": False}])
def test_no_sandbox_in_production(client: Any, clock: FrozenClock) -> None:
    body = _body()
    assert client.post("/sandbox/sms", content=body, headers=_signed(clock, body)).status_code == 404
    assert client.get("/sandbox/sms/messages").status_code == 404
    assert client.get("/sandbox/sms", headers={"accept": "text/html"}).status_code == 404


def test_qianshu_sandbox_command_serves_the_provider(tmp_path: Any) -> None:
    port = free_port()
    env = {**os.environ, "QIANSHU_DATA_DIR": str(tmp_path), "QIANSHU_SMS_HMAC_SECRET": "cli-secret"}
    proc = subprocess.Popen(  # our own CLI
        [sys.executable, "-c", "from qianshu.cli import main; main()", "sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/sandbox/sms"
    try:
        deadline = time.monotonic() + 20
        while True:  # wait for the server process to listen
            try:
                if httpx.get(f"{url}/messages", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "qianshu sandbox did not start"
            time.sleep(0.05)
        from qianshu.core.clock import SystemClock

        sender = HttpSmsSender(url=url, secret=b"cli-secret", clock=SystemClock(), timeout=5)
        provider_id = sender.send(message_id="msg_cli", to=PHONE, text=f"验证码 {CODE}")
        inbox = httpx.get(f"{url}/messages", params={"phone": PHONE}, timeout=5).json()["messages"]
        assert [m["id"] for m in inbox] == [provider_id]
        wrong = HttpSmsSender(url=url, secret=b"sandbox-secret", clock=SystemClock(), timeout=5)
        with pytest.raises(Exception, match="HTTP 401"):
            wrong.send(message_id="msg_cli2", to=PHONE, text="x")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
