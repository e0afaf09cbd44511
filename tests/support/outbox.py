"""A message catcher for tests: records what is handed to notify, then lets notify send it for real."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest


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
    """Every message handed to notify during the test, newest last."""

    sent: list[Sent] = field(default_factory=list)

    def last_code(self, to: str | None = None) -> str:
        """Return the newest one-time code sent (to `to`, when given)."""
        for message in reversed(self.sent):
            if "code" in message.params and (to is None or message.to == to):
                return str(message.params["code"])
        raise AssertionError(f"no code was sent to {to}")

    def last(self, template: str) -> Sent:
        """Return the newest message made from `template`."""
        for message in reversed(self.sent):
            if message.template == template:
                return message
        raise AssertionError(f"no {template} message was sent")

    def templates(self, subject_id: str | None = None) -> list[str]:
        """Return the templates sent (to `subject_id`), oldest first."""
        return [m.template for m in self.sent if subject_id is None or m.subject_id == subject_id]


def install_outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Wrap notify's send functions for the test: record each message, then call the real one."""
    from qianshu.notify import service as notify_service

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
