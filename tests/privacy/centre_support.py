"""Helpers for the privacy-centre tests: catch messages, register people, make operators."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from qianshu.core.auth import Principal
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime

CHEAP_HASHING = {
    "password_hash_memory_kib": 1024,
    "password_hash_time_cost": 1,
    "password_hash_parallelism": 1,
}
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
    """Every message sent during the test, newest last."""

    sent: list[Sent] = field(default_factory=list)

    def last_code(self, to: str | None = None) -> str:
        """Return the newest code sent (to `to`, when given)."""
        for message in reversed(self.sent):
            if "code" in message.params and (to is None or message.to == to):
                return str(message.params["code"])
        raise AssertionError(f"no code was sent to {to}")

    def templates(self, subject_id: str | None = None) -> list[str]:
        """Return the templates sent (to `subject_id`), oldest first."""
        return [m.template for m in self.sent if subject_id is None or m.subject_id == subject_id]


def install_outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Wrap notify's send functions: record each message, then call through (real templates)."""
    notify_service = importlib.import_module("qianshu.notify.service")
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


def register_user(runtime: Runtime, outbox: Outbox, phone: str, name: str | None = "张三") -> str:
    """Register a person through the accounts service; return their user id."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import service as privacy_service

    with runtime.transaction() as s:
        accounts_service.start_registration(session=s, clock=runtime.clock, phone=phone)
        version = privacy_service.current_policy(session=s).version
    with runtime.transaction() as s:
        new = accounts_service.complete_registration(
            session=s,
            clock=runtime.clock,
            phone=phone,
            code=outbox.last_code(phone),
            password=PASSWORD,
            accept_policy_version=version,
            display_name=name,
        )
        return new.read.user.id


def make_operator(runtime: Runtime, email: str, roles: tuple[str, ...] = ()) -> Principal:
    """Create an operator holding `roles`; return their principal."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import staff

    with runtime.transaction() as s:
        user = accounts_service.create_operator(
            session=s, clock=runtime.clock, email=email, password=PASSWORD
        )
        for role in roles:
            staff.grant_role(session=s, clock=runtime.clock, actor="system", user_id=user.id, role=role)
    return Principal(user_id=user.id, session_id=new_id("ses"), role="operator")


def staff_for(runtime: Runtime, principal: Principal, permission: str) -> Any:
    """Return the `Staff` acting for `principal` through `permission`."""
    from qianshu.privacy import staff

    with runtime.transaction() as s:
        return staff.require_permission(session=s, principal=principal, permission=permission)
