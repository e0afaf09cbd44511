"""Pydantic shapes of the integrator API: API keys, webhooks, deliveries, pages of contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qianshu.contracts.schemas import ContractRead

Scope = Literal["contracts:read", "contracts:write", "webhooks:manage"]
SCOPES: tuple[str, ...] = ("contracts:read", "contracts:write", "webhooks:manage")
EventName = Literal[
    "contract.sent",
    "recipient.viewed",
    "recipient.signed",
    "recipient.declined",
    "contract.completed",
    "contract.revoked",
    "contract.expired",
]
EVENTS: tuple[str, ...] = (
    "contract.sent",
    "recipient.viewed",
    "recipient.signed",
    "recipient.declined",
    "contract.completed",
    "contract.revoked",
    "contract.expired",
)


class ApiKeyCreate(BaseModel):
    """A new API key of an organisation (created by its owner or an administrator)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "org_id": "org_0123456789abcdefghjk",
                    "name": "ERP 生产环境",
                    "scopes": ["contracts:read", "contracts:write", "webhooks:manage"],
                    "rate_limit": 600,
                }
            ]
        },
    )

    org_id: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=80)
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    rate_limit: int = Field(default=600, ge=1, le=6000, description="requests per minute for this key")


class ApiKeyRead(BaseModel):
    """An API key as listed: never its secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "key_0123456789abcdefghjk",
                    "org_id": "org_0123456789abcdefghjk",
                    "name": "ERP 生产环境",
                    "scopes": ["contracts:read", "contracts:write"],
                    "rate_limit": 600,
                    "created_at": "2026-05-01T08:00:00Z",
                    "last_used_at": "2026-05-02T09:30:00Z",
                    "revoked_at": None,
                }
            ]
        }
    )

    id: str
    org_id: str
    name: str
    scopes: list[str]
    rate_limit: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    """A new key with its secret: shown this once, send it as `Authorization: Bearer <secret>`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "key_0123456789abcdefghjk",
                    "org_id": "org_0123456789abcdefghjk",
                    "name": "ERP 生产环境",
                    "scopes": ["contracts:read", "contracts:write"],
                    "rate_limit": 600,
                    "created_at": "2026-05-01T08:00:00Z",
                    "last_used_at": None,
                    "revoked_at": None,
                    "secret": "qsk_0123456789abcdefghjk_Zx9…",
                }
            ]
        }
    )

    secret: str


class ContractPage(BaseModel):
    """One page of contracts, newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [], "next_cursor": "WyIyMDI2LTA1LTAxVDA4OjAwOjAwKzAwOjAwIiwiY3RyX…"}]}
    )

    items: list[ContractRead]
    next_cursor: str | None


class WebhookCreate(BaseModel):
    """A new webhook endpoint (http or https) and the events it receives."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "org_id": "org_0123456789abcdefghjk",
                    "url": "https://erp.example.com/qianshu/webhooks",
                    "events": ["contract.completed", "recipient.signed", "recipient.declined"],
                }
            ]
        },
    )

    org_id: str | None = Field(default=None, max_length=32, description="needed with a session; a key implies it")
    url: str = Field(min_length=1, max_length=500)
    events: list[EventName] = Field(min_length=1, max_length=len(EVENTS))


class WebhookRead(BaseModel):
    """A webhook endpoint as listed (never its secret)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "whk_0123456789abcdefghjk",
                    "org_id": "org_0123456789abcdefghjk",
                    "url": "https://erp.example.com/qianshu/webhooks",
                    "events": ["contract.completed"],
                    "status": "active",
                    "created_at": "2026-05-01T08:00:00Z",
                }
            ]
        }
    )

    id: str
    org_id: str
    url: str
    events: list[str]
    status: str
    created_at: datetime


class WebhookCreated(WebhookRead):
    """A new endpoint with its signing secret: shown this once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "whk_0123456789abcdefghjk",
                    "org_id": "org_0123456789abcdefghjk",
                    "url": "https://erp.example.com/qianshu/webhooks",
                    "events": ["contract.completed"],
                    "status": "active",
                    "created_at": "2026-05-01T08:00:00Z",
                    "secret": "whsec_kP3…",
                }
            ]
        }
    )

    secret: str


class WebhookDeliveryRead(BaseModel):
    """One delivery of an event to an endpoint, and how its latest attempt went."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "dlv_0123456789abcdefghjk",
                    "webhook_id": "whk_0123456789abcdefghjk",
                    "event_id": "evt_0123456789abcdefghjk",
                    "event": "contract.completed",
                    "status": "delivered",
                    "attempts": 2,
                    "replay_of": None,
                    "response_status": 200,
                    "last_error": None,
                    "created_at": "2026-05-01T08:00:00Z",
                    "last_attempt_at": "2026-05-01T08:00:05Z",
                    "next_attempt_at": None,
                    "delivered_at": "2026-05-01T08:00:05Z",
                    "payload": {
                        "id": "evt_0123456789abcdefghjk",
                        "type": "contract.completed",
                        "created_at": "2026-05-01T08:00:00Z",
                        "data": {"contract_id": "ctr_0123456789abcdefghjk", "status": "completed"},
                    },
                }
            ]
        }
    )

    id: str
    webhook_id: str
    event_id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    replay_of: str | None
    response_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    payload: dict[str, Any]


class WebhookDeliveryPage(BaseModel):
    """One page of deliveries, newest first."""

    items: list[WebhookDeliveryRead]
    next_cursor: str | None


class SigningUrlRead(BaseModel):
    """The signing link of one signer, to embed or hand over; the signer still proves their contact."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "ctr_0123456789abcdefghjk",
                    "recipient_id": "rcp_0123456789abcdefghjk",
                    "url": "https://qianshu.example.com/sign/AbC…",
                    "turn_now": True,
                }
            ]
        }
    )

    contract_id: str
    recipient_id: str
    url: str
    turn_now: bool
