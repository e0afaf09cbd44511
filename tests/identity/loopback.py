"""The sandbox identity provider as a real uvicorn server on a free 127.0.0.1 port.

Use `running_identity_sandbox(clock=clock)` and point `QIANSHU_IDENTITY_URL` at the yielded
`sandbox.url`; `sandbox.provider.calls` lists what it answered (ID numbers masked).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from qianshu.core.clock import Clock
from qianshu.identity.sandbox import PREFIX, SandboxIdentityProvider, create_sandbox_app

SECRET = "sandbox-secret"  # the Settings default of QIANSHU_IDENTITY_HMAC_SECRET


@dataclass
class IdentitySandbox:
    """A running sandbox provider: its base URL and its in-process state."""

    url: str
    provider: SandboxIdentityProvider

    def count(self, reference: str | None = None) -> int:
        """Return how many requests reached the sandbox (for one verification, when given)."""
        return self.provider.count(reference)


@contextmanager
def serve(app: Any, name: str) -> Iterator[int]:
    """Serve an ASGI app with uvicorn in a thread on a free loopback port; yield the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:  # uvicorn starts in milliseconds; poll its own flag
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.005)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_identity_sandbox(*, clock: Clock, delay_seconds: float = 1.0) -> Iterator[IdentitySandbox]:
    """Run the standalone sandbox app (`qianshu identity sandbox`) until the block ends."""
    app = create_sandbox_app(secret=SECRET.encode(), clock=clock, delay_seconds=delay_seconds)
    with serve(app, "identity-sandbox") as port:
        yield IdentitySandbox(url=f"http://127.0.0.1:{port}{PREFIX}", provider=app.state.identity_sandbox)
