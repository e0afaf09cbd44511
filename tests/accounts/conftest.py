"""Fixtures for accounts: cheap argon2 parameters, a code catcher, and registration helpers.

The code catcher (`tests.support.outbox`) wraps `notify_service.send_sms/send_email` and calls
through to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from tests.support.outbox import Outbox, install_outbox

PHONE = "13812345678"
EMAIL = "zhang.san@example.com"
PASSWORD = "Correct-horse-42"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Cheap argon2id parameters: the production ones are tested in test_passwords."""
    return {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1, "password_hash_parallelism": 1}


@pytest.fixture(autouse=True)
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Catch every message sent through notify (and let notify send it)."""
    return install_outbox(monkeypatch)


@pytest.fixture
def policy_version(runtime: Runtime) -> str:
    """Return the version label of the privacy policy in force."""
    from qianshu.privacy import service as privacy_service

    with runtime.transaction() as s:
        return str(privacy_service.current_policy(session=s).version)


def csrf(client: Any) -> dict[str, str]:
    """Return the CSRF header for a cookie-carrying client (fetching the cookie if needed)."""
    if not client.cookies.get("qs_csrf"):
        client.get("/login")
    return {"X-CSRF-Token": client.cookies.get("qs_csrf")}


@pytest.fixture
def register(client: Any, outbox: Outbox, policy_version: str) -> Callable[..., dict[str, Any]]:
    """Register through the API and return the login response (token, session, user)."""

    def make(
        phone: str | None = PHONE,
        email: str | None = None,
        password: str = PASSWORD,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        contact = {"phone": phone} if phone else {"email": email}
        r = client.post("/api/v1/accounts/register/start", json=contact, headers=csrf(client))
        assert r.status_code == 202, r.text
        body = {
            **contact,
            "code": outbox.last_code(),
            "password": password,
            "accept_policy_version": policy_version,
        }
        if display_name:
            body["display_name"] = display_name
        r = client.post("/api/v1/accounts/register/complete", json=body, headers=csrf(client))
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    return make
