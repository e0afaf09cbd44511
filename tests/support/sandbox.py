"""The sandbox SMS provider as a real uvicorn server on a free 127.0.0.1 port, for any domain's tests.

    from tests.support.sandbox import SmsSandbox, running_sms_sandbox

    @pytest.fixture
    def sms_sandbox(clock: FrozenClock) -> Iterator[SmsSandbox]:
        with running_sms_sandbox(clock=clock) as sandbox:
            yield sandbox

    @pytest.fixture
    def settings_overrides(sms_sandbox: SmsSandbox) -> dict[str, Any]:
        return {"sms_url": sms_sandbox.url}

Then send (`notify_service.send_sms` or any flow that texts a code), run the jobs (`run_jobs()`), and
read what the provider received over HTTP: `sms_sandbox.latest_code("13812345678")`,
`sms_sandbox.messages(phone)`. Give the sandbox the test's `clock` so signature timestamps agree.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from qianshu.config import Settings
from qianshu.core.clock import Clock, SystemClock
from qianshu.notify.sandbox import PREFIX, SandboxSmsProvider, create_sandbox_app

DEFAULT_SECRET = "sandbox-secret"  # the Settings default of QIANSHU_SMS_HMAC_SECRET
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass
class SmsSandbox:
    """A running sandbox SMS provider: point `settings.sms_url` at `url`, read its inbox over HTTP."""

    url: str  # e.g. http://127.0.0.1:40123/sandbox/sms
    provider: SandboxSmsProvider  # the server's state, for clearing between steps
    _seen: set[str] = field(default_factory=set)

    def messages(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Return the received messages (newest first) as JSON dicts, read through GET /messages."""
        params: dict[str, str | int] = {"limit": 500}
        if phone:
            params["phone"] = phone
        response = httpx.get(f"{self.url}/messages", params=params, timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["messages"]
        return found

    def texts(self, phone: str) -> list[str]:
        """Return the texts sent to `phone`, newest first."""
        return [m["text"] for m in self.messages(phone)]

    def latest_code(self, phone: str) -> str:
        """Return the six-digit code in the newest message to `phone` (AssertionError when none)."""
        for text in self.texts(phone):
            match = _CODE.search(text)
            if match:
                return match.group(1)
        raise AssertionError(f"the sandbox received no code for {phone}")

    def new_code(self, phone: str) -> str:
        """Return the newest code to `phone` that this helper has not returned before."""
        for text in self.texts(phone):
            match = _CODE.search(text)
            if match and match.group(1) not in self._seen:
                self._seen.add(match.group(1))
                return match.group(1)
        raise AssertionError(f"the sandbox received no new code for {phone}")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_sms_sandbox(
    *, clock: Clock | None = None, secret: str = DEFAULT_SECRET, max_skew_seconds: int = 300
) -> Iterator[SmsSandbox]:
    """Serve the standalone sandbox app (`qianshu sandbox`) with uvicorn in a thread until the block ends."""
    import uvicorn

    settings = Settings(sms_hmac_secret=SecretStr(secret), sms_max_skew_seconds=max_skew_seconds)
    app = create_sandbox_app(settings=settings, clock=clock or SystemClock())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sms-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:  # startup takes a few milliseconds; poll uvicorn's own flag
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the SMS sandbox did not start")
        time.sleep(0.01)
    try:
        yield SmsSandbox(url=f"http://127.0.0.1:{port}{PREFIX}", provider=app.state.sms_sandbox)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
