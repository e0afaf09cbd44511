"""Fixtures for contracts: the identity sandbox, registered and verified people, sent messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from tests.identity.conftest import make_id
from tests.identity.loopback import IdentitySandbox, running_identity_sandbox

PASSWORD = "Qianshu-contracts-2026!"


@pytest.fixture
def identity_sandbox(clock: Any) -> Iterator[IdentitySandbox]:
    with running_identity_sandbox(clock=clock, delay_seconds=1.0) as sandbox:
        yield sandbox


@pytest.fixture
def settings_overrides(identity_sandbox: IdentitySandbox) -> dict[str, Any]:
    return {
        "identity_url": identity_sandbox.url,
        "signing_identity_level": "two_elements",
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "password_hash_parallelism": 1,
        "otp_resend_seconds": 0,
    }


@dataclass
class Sent:
    """Messages handed to notify (the real service renders and queues them; we also keep params)."""

    items: list[dict[str, Any]]

    def last(self, to: str, template: str | None = None) -> dict[str, Any]:
        for item in reversed(self.items):
            if item.get("phone", item.get("email")) == to and (template is None or item["template"] == template):
                return dict(item)
        raise AssertionError(f"no message to {to} ({template})")

    def code(self, to: str, template: str) -> str:
        return str(self.last(to, template)["params"]["code"])


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    from qianshu.notify import service as notify_service

    record = Sent(items=[])
    real_sms, real_email = notify_service.send_sms, notify_service.send_email

    def send_sms(**kw: Any) -> str:
        record.items.append(kw)
        return real_sms(**kw)

    def send_email(**kw: Any) -> str:
        record.items.append(kw)
        return real_email(**kw)

    monkeypatch.setattr(notify_service, "send_sms", send_sms)
    monkeypatch.setattr(notify_service, "send_email", send_email)
    return record


_SEQ = iter(range(100, 900))


@pytest.fixture
def make_person(runtime: Runtime, sent: Sent) -> Callable[..., str]:
    """Return `make(phone, verified=True)`: a registered account (and verified person with a certificate)."""
    from qianshu.accounts import service as accounts_service
    from qianshu.identity import levels
    from qianshu.identity.checks import verify_now

    def make(phone: str, verified: bool = True, name: str = "张三") -> str:
        with runtime.transaction() as s:
            accounts_service.start_registration(session=s, clock=runtime.clock, phone=phone)
        code = sent.code(phone, "otp_register")
        with runtime.transaction() as s:
            version = accounts_service.current_policy_version(session=s)
            new = accounts_service.complete_registration(
                session=s,
                clock=runtime.clock,
                code=code,
                password=PASSWORD,
                accept_policy_version=version,
                phone=phone,
            )
            user_id = new.read.user.id
        if verified:
            with runtime.transaction() as s:
                verify_now(
                    session=s,
                    clock=runtime.clock,
                    user_id=user_id,
                    level="two_elements",
                    name=name,
                    id_number=make_id(seq=f"{next(_SEQ):03d}"),
                    grant=(levels.PURPOSE_ID_NUMBER,),
                )
        return user_id

    return make


@pytest.fixture
def login(runtime: Runtime) -> Callable[[str], str]:
    """Return `login(phone)`: a fresh session token for a registered account (the API's bearer)."""
    from qianshu.accounts import service as accounts_service

    def do(phone: str) -> str:
        with runtime.transaction() as s:
            new = accounts_service.login_with_password(session=s, clock=runtime.clock, login=phone, password=PASSWORD)
        return str(new.token)

    return do


@pytest.fixture
def api(app: Any, login: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """Return `api(phone=None)`: a TestClient, signed in with a bearer token when a phone is given."""
    from fastapi.testclient import TestClient

    opened: list[Any] = []

    def make(phone: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {login(phone)}"} if phone else {}
        c = TestClient(app, base_url="http://testserver", headers=headers, follow_redirects=False)
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def browser(app: Any, login: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """Return `browser(phone=None)`: a cookie-carrying client (signed in when a phone is given) with CSRF."""
    from fastapi.testclient import TestClient

    opened: list[Any] = []

    def make(phone: str | None = None) -> Any:
        c = TestClient(app, base_url="http://testserver", follow_redirects=False)
        c.__enter__()
        opened.append(c)
        if phone:
            c.cookies.set("qs_session", login(phone))
        c.get("/", headers={"accept": "text/html"})
        assert c.cookies.get("qs_csrf")
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)
