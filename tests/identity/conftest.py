"""Fixtures for identity: the sandbox provider over real HTTP, people who accepted the policy,
signed-in clients, an identity reviewer, and ID numbers with correct check characters."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.types import Receive, Scope, Send

from qianshu.core.auth import Principal
from qianshu.core.clock import FrozenClock
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.identity.validators import iso7064_mod11_2_check
from tests.identity.loopback import IdentitySandbox, running_identity_sandbox

OPERATOR_PASSWORD = "Qianshu-review-2026!"
NAME = "张三"


def make_id(birth: str = "19900307", seq: str = "123", area: str = "110101") -> str:
    """Return a resident ID number with a correct GB 11643 check character."""
    body = area + birth + seq
    return body + iso7064_mod11_2_check(body)


def card_number(body: str = "621700000000123456") -> str:
    """Return `body` followed by its Luhn check digit (ISO/IEC 7812-1 Annex B)."""
    for digit in "0123456789":
        total = 0
        for i, ch in enumerate(reversed(body + digit)):
            d = int(ch)
            if i % 2 == 1:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return body + digit
    raise AssertionError("unreachable")


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (320, 240)) -> bytes:
    """Return a small real image (a photo or document scan stand-in)."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def identity_sandbox(clock: FrozenClock) -> Iterator[IdentitySandbox]:
    """The sandbox identity provider served by uvicorn, sharing the test's clock."""
    with running_identity_sandbox(clock=clock, delay_seconds=1.0) as sandbox:
        yield sandbox


@pytest.fixture
def settings_overrides(identity_sandbox: IdentitySandbox) -> dict[str, Any]:
    """Point the HTTP adapter at the test's sandbox; short time-outs, no back-off sleeps."""
    return {
        "identity_url": identity_sandbox.url,
        "identity_timeout_seconds": 0.3,
        "identity_retries": 1,
        "identity_retry_backoff_seconds": 0,
        "identity_breaker_failures": 3,
        "identity_breaker_reset_seconds": 60,
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "password_hash_parallelism": 1,
    }


@pytest.fixture
def make_user(runtime: Runtime) -> Callable[..., str]:
    """Return `make(consents=())`: a new person who accepted the policy (and granted `consents`)."""
    from qianshu.privacy import service as privacy_service

    def make(consents: tuple[str, ...] | list[str] = ()) -> str:
        user_id = new_id("usr")
        with runtime.transaction() as s:
            version = privacy_service.current_policy(session=s).version
            privacy_service.record_policy_acceptance(
                session=s, clock=runtime.clock, user_id=user_id, version_id=version, context=None
            )
            for purpose in consents:
                privacy_service.grant_consent(
                    session=s, clock=runtime.clock, user_id=user_id, purpose=purpose, context=None
                )
        return user_id

    return make


class _SignedIn:
    """Seed `request.state` with a principal, standing in for the session cookie."""

    def __init__(self, app: Any, principal: Principal) -> None:
        self.app = app
        self.principal = principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            state["user"] = self.principal
            state["principal_resolved"] = True
        await self.app(scope, receive, send)


@pytest.fixture
def client_as(app: Any) -> Iterator[Callable[..., TestClient]]:
    """Return `make(user_id, role="user")`: a TestClient signed in as that user (with a CSRF cookie)."""
    opened: list[TestClient] = []

    def make(user_id: str, role: str = "user") -> TestClient:
        principal = Principal(user_id=user_id, session_id=new_id("ses"), role=role)
        client = TestClient(_SignedIn(app, principal), base_url="http://testserver")
        client.__enter__()
        client.get("/")  # receive the CSRF cookie
        client.headers["X-CSRF-Token"] = str(client.cookies.get("qs_csrf"))
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def make_reviewer(runtime: Runtime) -> Callable[..., str]:
    """Return `make(role="reviewer")`: an operator account holding that privacy sub-role."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy.staff import grant_role

    def make(role: str | None = "reviewer") -> str:
        with runtime.transaction() as s:
            operator = accounts_service.create_operator(
                session=s,
                clock=runtime.clock,
                email=f"{new_id('op')}@example.com",
                password=OPERATOR_PASSWORD,
            )
            if role:
                grant_role(session=s, clock=runtime.clock, actor="system", user_id=operator.id, role=role)
        return operator.id

    return make
