"""Fixtures for notify: the sandbox SMS provider on loopback, an SMTP server, an operator client."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.support.sandbox import SmsSandbox, free_port, running_sms_sandbox

PHONE = "13812345678"
EMAIL = "zhang.san@example.com"
CODE = "482913"
OPERATOR_PASSWORD = "Qianshu-notify-2026!"


@pytest.fixture
def sms_sandbox(clock: FrozenClock) -> Iterator[SmsSandbox]:
    """The sandbox SMS provider as a real HTTP server sharing the test's clock."""
    with running_sms_sandbox(clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def settings_overrides(sms_sandbox: SmsSandbox) -> dict[str, Any]:
    """Send text messages to the test's sandbox server; cheap argon2id for the operator account."""
    return {
        "sms_url": sms_sandbox.url,
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "password_hash_parallelism": 1,
    }


@dataclass
class SmtpCatcher:
    """Messages an aiosmtpd server received: envelope sender, recipients and raw content."""

    host: str
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "content": bytes(envelope.original_content),
            }
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SmtpCatcher]:
    """A real SMTP server (aiosmtpd) on a free loopback port; AUTH allowed without TLS for the test."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    catcher = SmtpCatcher(host="127.0.0.1", port=free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"mailer" and data.password == b"s3cret"
        if ok:
            catcher.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        catcher,
        hostname=catcher.host,
        port=catcher.port,
        loop=asyncio.new_event_loop(),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()
        controller.loop.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def operator_client(client: Any, runtime: Runtime) -> Any:
    """The test client signed in as an operator (session cookie set)."""
    from qianshu.accounts import service as accounts_service
    from qianshu.core.security import SESSION_COOKIE

    with runtime.transaction() as session:
        accounts_service.create_operator(
            session=session, clock=runtime.clock, email="ops@example.cn", password=OPERATOR_PASSWORD
        )
        new = accounts_service.login_with_password(
            session=session, clock=runtime.clock, login="ops@example.cn", password=OPERATOR_PASSWORD
        )
    client.cookies.set(SESSION_COOKIE, new.token)
    return client
