"""core.auth: session resolution from cookie or bearer token, and the route guards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from sqlalchemy import select

from qianshu.accounts import service as accounts_service
from qianshu.accounts.models import UserSession
from qianshu.config import Settings
from qianshu.core.auth import (
    CurrentUser,
    OperatorUser,
    OptionalUser,
    PageOperator,
    Principal,
    set_session_cookie,
)
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.accounts.conftest import PASSWORD


def _probe_app(app: FastAPI) -> FastAPI:
    @app.get("/api/v1/_probe/optional")
    def optional(user: OptionalUser) -> dict[str, Any]:
        return {"user": user.user_id if user else None}

    @app.get("/api/v1/_probe/current")
    def current(user: CurrentUser) -> dict[str, Any]:
        return {"user": user.user_id, "role": user.role}

    @app.get("/api/v1/_probe/operator")
    def operator(user: OperatorUser) -> dict[str, Any]:
        return {"user": user.user_id}

    @app.get("/_probe/operator-page")
    def operator_page(user: PageOperator) -> dict[str, Any]:
        return {"user": user.user_id}

    return app


def test_guards(
    app: Any, register: Callable[..., dict[str, Any]], runtime: Runtime, clock: FrozenClock
) -> None:
    _probe_app(app)
    with TestClient(app, base_url="http://testserver") as c:
        assert c.get("/api/v1/_probe/optional").json() == {"user": None}
        assert c.get("/api/v1/_probe/current").status_code == 401
        assert c.get("/api/v1/_probe/operator").status_code == 401
        r = c.get("/_probe/operator-page", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F_probe%2Foperator-page"
    user = register()
    with TestClient(app, base_url="http://testserver") as c:
        auth = {"Authorization": f"Bearer {user['token']}"}
        assert c.get("/api/v1/_probe/current", headers=auth).json() == {
            "user": user["user"]["id"],
            "role": "user",
        }
        r = c.get("/api/v1/_probe/operator", headers=auth)
        assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
        c.cookies.set("qs_session", user["token"])
        assert c.get("/api/v1/_probe/optional").json() == {"user": user["user"]["id"]}
    with runtime.transaction() as s:
        accounts_service.create_operator(session=s, clock=clock, phone="13700000000", password="Ops-pass-123")
    with TestClient(app, base_url="http://testserver") as c:
        token = c.post("/api/v1/sessions", json={"login": "13700000000", "password": "Ops-pass-123"}).json()[
            "token"
        ]
        assert (
            c.get("/api/v1/_probe/operator", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )


def test_bearer_header_wins_over_cookie(
    app: Any, register: Callable[..., dict[str, Any]], client: Any
) -> None:
    alice = register()
    client.cookies.clear()
    bob = register(phone="13912345678")
    _probe_app(app)
    with TestClient(app, base_url="http://testserver") as c:
        c.cookies.set("qs_session", alice["token"])
        r = c.get("/api/v1/_probe/current", headers={"Authorization": f"Bearer {bob['token']}"})
        assert r.json()["user"] == bob["user"]["id"]


def test_last_seen_is_refreshed_at_most_every_few_minutes(
    client: Any, register: Callable[..., dict[str, Any]], runtime: Runtime, clock: FrozenClock
) -> None:
    token = register()["token"]
    start = clock.now()
    clock.advance(timedelta(minutes=1))
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    with runtime.transaction() as s:
        assert s.scalar(select(UserSession.last_seen_at)) == start
    clock.advance(timedelta(minutes=10))
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    with runtime.transaction() as s:
        assert s.scalar(select(UserSession.last_seen_at)) == clock.now()


def test_session_token_is_stored_only_hashed(
    register: Callable[..., dict[str, Any]], runtime: Runtime
) -> None:
    token = register()["token"]
    with runtime.transaction() as s:
        row = s.scalar(select(UserSession))
        assert row is not None and token not in row.token_hash and len(row.token_hash) == 64


def test_session_cookie_flags(tmp_path: Any) -> None:
    response = Response()
    set_session_cookie(response, token="qss_x", settings=Settings(data_dir=tmp_path, cookie_secure=True))
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie and "path=/" in cookie
    response = Response()
    set_session_cookie(
        response, token="qss_x", settings=Settings(data_dir=tmp_path, public_base_url="http://x")
    )
    assert "secure" not in response.headers["set-cookie"].lower()


def test_disabled_or_cancelled_users_lose_their_sessions(
    register: Callable[..., dict[str, Any]], runtime: Runtime, clock: FrozenClock, client: Any
) -> None:
    user = register()
    with runtime.transaction() as s:
        accounts_service.cancel_user(session=s, clock=clock, user_id=user["user"]["id"])
    with runtime.transaction() as s:
        assert accounts_service.resolve_session(session=s, clock=clock, token=user["token"]) is None
        contact = accounts_service.get_contact(session=s, user_id=user["user"]["id"])
        assert contact.phone is None and contact.email is None
    client.cookies.clear()
    r = client.post("/api/v1/sessions", json={"login": "13812345678", "password": PASSWORD})
    assert r.status_code == 401
    assert isinstance(Principal("usr_x", "ses_x", "user"), Principal)
