"""Pydantic shapes of the notify domain: messages for operators, and the SMS sandbox's wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["sms", "email"]
MessageStatus = Literal["queued", "retrying", "sent", "failed", "cancelled"]


class RenderedMessage(BaseModel):
    """A template rendered for one channel and locale (subject only for e-mail)."""

    template: str
    locale: str
    subject: str | None
    body: str


class MessageRead(BaseModel):
    """A message as operators see it: the recipient masked, never the text."""

    id: str
    channel: Channel
    template: str
    locale: str
    recipient: str  # masked (`138****5678`, `z***@example.com`), or "" when the data was erased
    recipient_erased: bool
    status: MessageStatus
    attempts: int
    provider_message_id: str | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    sent_at: datetime | None


class OutboxEmailRead(BaseModel):
    """An e-mail as the outbox backend wrote it, for an operator to read (recipient masked)."""

    message: MessageRead
    file_name: str
    headers: list[tuple[str, str]]
    subject: str
    body: str


class SandboxSmsIn(BaseModel):
    """What an SMS provider receives from `HttpSmsSender` (the signed JSON body)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=64)
    to: str = Field(pattern=r"^\+?[0-9]{5,20}$")
    text: str = Field(min_length=1, max_length=1000)


class SandboxSmsRead(BaseModel):
    """A text message the sandbox provider received."""

    id: str
    message_id: str
    to: str
    text: str
    received_at: datetime


class SandboxInbox(BaseModel):
    """The sandbox provider's inbox, newest first."""

    messages: list[SandboxSmsRead]


class SandboxAccepted(BaseModel):
    """The sandbox provider's answer to a send: its own message id."""

    id: str
    status: Literal["accepted"] = "accepted"
