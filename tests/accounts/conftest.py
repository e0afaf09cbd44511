"""Fixtures for accounts: cheap argon2 parameters, a code catcher, and registration helpers.

The code catcher wraps `notify_service.send_sms/send_email` and calls through to them; while the
notify domain is not in the tree yet, a minimal stand-in with the same signature takes its place
(it only records the call), so these tests run before and after notify lands.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime

PHONE = "13812345678"
EMAIL = "zhang.san@example.com"
PASSWORD = "Correct-horse-42"


@dataclass
class Sent:
    """One message handed to notify."""

    channel: str
    to: str
    template: str
    params: dict[str, Any]
    subject_id: str


@dataclass
class Outbox:
    """Every code message sent during the test, newest last."""

    sent: list[Sent] = field(default_factory=list)

    def last_code(self, to: str | None = None) -> str:
        """Return the newest code sent (to `to`, when given)."""
        for message in reversed(self.sent):
            if to is None or message.to == to:
                return str(message.params["code"])
        raise AssertionError(f"no code was sent to {to}")

    def count(self, to: str) -> int:
        """Return how many messages went to `to`."""
        return sum(1 for m in self.sent if m.to == to)


def _notify_standin() -> types.ModuleType:
    module = types.ModuleType("qianshu.notify.service")

    def send_sms(
        *,
        session: Session,
        clock: Clock,
        subject_id: str,
        phone: str,
        template: str,
        params: dict[str, Any],
        locale: str,
    ) -> str:
        return new_id("msg")

    def send_email(
        *,
        session: Session,
        clock: Clock,
        subject_id: str,
        email: str,
        template: str,
        params: dict[str, Any],
        locale: str,
    ) -> str:
        return new_id("msg")

    module.send_sms = send_sms  # type: ignore[attr-defined]
    module.send_email = send_email  # type: ignore[attr-defined]
    return module


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Cheap argon2id parameters: the production ones are tested in test_passwords."""
    return {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1, "password_hash_parallelism": 1}


@pytest.fixture(autouse=True)
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Catch every code sent through notify (calling the real notify when it exists)."""
    import qianshu.notify

    try:
        notify_service = importlib.import_module("qianshu.notify.service")
    except ImportError:
        notify_service = _notify_standin()
        monkeypatch.setitem(sys.modules, "qianshu.notify.service", notify_service)
        monkeypatch.setattr(qianshu.notify, "service", notify_service, raising=False)
    box = Outbox()
    real_sms, real_email = notify_service.send_sms, notify_service.send_email

    def send_sms(**kw: Any) -> str:
        box.sent.append(Sent("sms", kw["phone"], kw["template"], dict(kw["params"]), kw["subject_id"]))
        return str(real_sms(**kw))

    def send_email(**kw: Any) -> str:
        box.sent.append(Sent("email", kw["email"], kw["template"], dict(kw["params"]), kw["subject_id"]))
        return str(real_email(**kw))

    monkeypatch.setattr(notify_service, "send_sms", send_sms)
    monkeypatch.setattr(notify_service, "send_email", send_email)
    return box


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
