"""Fixtures for the consent-ledger tests: clients signed in as a given user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from qianshu.core.auth import Principal
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime


class SignedInClient(TestClient):
    """A test client whose requests come from `principal`."""

    principal: Principal


ClientAs = Callable[..., SignedInClient]


class _SignedIn:
    """Wrap the app so each HTTP request arrives with `principal` already resolved.

    `core.auth` caches the resolved principal in `request.state`; seeding that state stands in
    for a session cookie, so these tests exercise the real dependencies and re-consent gate.
    """

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
def client_as(app: Any) -> Iterator[ClientAs]:
    """Return `make(user_id=None, role="user")` giving a TestClient signed in as that user."""
    opened: list[SignedInClient] = []

    def make(user_id: str | None = None, role: str = "user") -> SignedInClient:
        principal = Principal(user_id=user_id or new_id("usr"), session_id=new_id("ses"), role=role)
        client = SignedInClient(_SignedIn(app, principal), base_url="http://testserver")
        client.__enter__()
        client.principal = principal
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def officer_as(client_as: ClientAs, runtime: Runtime) -> Callable[..., SignedInClient]:
    """Return `make(email, *roles)`: a client signed in as a real operator holding `roles`."""
    from tests.privacy.centre_support import make_operator

    def make(email: str = "dpo@example.com", *roles: str) -> SignedInClient:
        principal = make_operator(runtime, email, roles)
        return client_as(principal.user_id, role="operator")

    return make


def csrf(client: TestClient) -> str:
    """Return the client's CSRF token, fetching a page first when it has none yet."""
    token = client.cookies.get("qs_csrf")
    if not token:
        client.get("/privacy")
        token = client.cookies.get("qs_csrf")
    assert token
    return str(token)
