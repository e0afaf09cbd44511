"""Integrator API under /api/v1: organisation API keys, webhooks, delivery log and replay, signing URLs.

API keys are managed by a signed-in owner or administrator of the organisation (a key cannot
make keys). Webhooks are managed by the same people or by a key with `webhooks:manage`; with a
key the organisation is the key's, with a session `org_id` names it. Included by `contracts.api`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from qianshu.contracts import apikeys, integrator, webhooks
from qianshu.contracts.integrator_schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    SigningUrlRead,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookRead,
)
from qianshu.core.auth import CurrentUser, Principal
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import InvalidInput, NotFound

router = APIRouter(tags=["integrations"])

HookManager = Annotated[Principal, Depends(apikeys.caller("webhooks:manage"))]
ContractWriter = Annotated[Principal, Depends(apikeys.caller("contracts:write"))]
OrgQuery = Annotated[str | None, Query(max_length=32, description="the organisation (with a session)")]


def _org(session: DbSession, principal: Principal, org_id: str | None) -> str:
    key_org = apikeys.org_of(principal)
    if key_org is not None:
        if org_id not in (None, key_org):
            raise NotFound("未找到该企业", detail_en="No such organisation")
        return key_org
    if not org_id:
        raise InvalidInput("请指定企业 org_id", detail_en="Give the organisation's org_id")
    apikeys.require_org_manager(session, org_id=org_id, user_id=principal.user_id)
    return org_id


def _actor(principal: Principal) -> str:
    return principal.key_id if isinstance(principal, apikeys.KeyPrincipal) else principal.user_id


# --- API keys ---------------------------------------------------------------------------------


@router.post("/api/v1/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(
    data: ApiKeyCreate, session: DbSession, clock: ClockDep, user: CurrentUser, context: ContextDep
) -> ApiKeyCreated:
    """Create an API key for an organisation (owner or administrator); the secret is shown once."""
    if isinstance(user, apikeys.KeyPrincipal):  # pragma: no cover - CurrentUser never resolves a key
        raise NotFound()
    return apikeys.create_key(session=session, clock=clock, actor_id=user.user_id, data=data, context=context)


@router.get("/api/v1/api-keys", response_model=list[ApiKeyRead])
def list_api_keys(
    session: DbSession, user: CurrentUser, org_id: Annotated[str, Query(max_length=32)]
) -> list[ApiKeyRead]:
    """List an organisation's API keys (never their secrets)."""
    return apikeys.list_keys(session=session, org_id=org_id, actor_id=user.user_id)


@router.post("/api/v1/api-keys/{key_id}/revoke", response_model=ApiKeyRead)
def revoke_api_key(
    key_id: str, session: DbSession, clock: ClockDep, user: CurrentUser, context: ContextDep
) -> ApiKeyRead:
    """Revoke an API key at once."""
    return apikeys.revoke_key(session=session, clock=clock, key_id=key_id, actor_id=user.user_id, context=context)


# --- webhooks -----------------------------------------------------------------------------------


@router.post("/api/v1/webhooks", response_model=WebhookCreated, status_code=201)
def create_webhook(
    data: WebhookCreate, session: DbSession, clock: ClockDep, user: HookManager, context: ContextDep
) -> WebhookCreated:
    """Add a webhook endpoint (http or https URL) for events; its signing secret is shown once."""
    org_id = _org(session, user, data.org_id)
    return webhooks.create_endpoint(
        session=session, clock=clock, org_id=org_id, actor_id=_actor(user), data=data, context=context
    )


@router.get("/api/v1/webhooks", response_model=list[WebhookRead])
def list_webhooks(session: DbSession, user: HookManager, org_id: OrgQuery = None) -> list[WebhookRead]:
    """List the organisation's webhook endpoints."""
    return webhooks.list_endpoints(session=session, org_id=_org(session, user, org_id))


@router.delete("/api/v1/webhooks/{webhook_id}", response_model=WebhookRead)
def disable_webhook(
    webhook_id: str,
    session: DbSession,
    clock: ClockDep,
    user: HookManager,
    context: ContextDep,
    org_id: OrgQuery = None,
) -> WebhookRead:
    """Stop sending to an endpoint; its delivery log stays."""
    return webhooks.disable_endpoint(
        session=session,
        clock=clock,
        org_id=_org(session, user, org_id),
        webhook_id=webhook_id,
        actor_id=_actor(user),
        context=context,
    )


@router.get("/api/v1/webhook-deliveries", response_model=WebhookDeliveryPage)
def list_deliveries(
    session: DbSession,
    user: HookManager,
    org_id: OrgQuery = None,
    webhook_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> WebhookDeliveryPage:
    """The delivery log, newest first: each event sent to each endpoint and its latest attempt."""
    return webhooks.list_deliveries(
        session=session, org_id=_org(session, user, org_id), webhook_id=webhook_id, cursor=cursor, limit=limit
    )


@router.get("/api/v1/webhook-deliveries/{delivery_id}", response_model=WebhookDeliveryRead)
def get_delivery(
    delivery_id: str, session: DbSession, user: HookManager, org_id: OrgQuery = None
) -> WebhookDeliveryRead:
    """One delivery with its payload."""
    return webhooks.get_delivery(session=session, org_id=_org(session, user, org_id), delivery_id=delivery_id)


@router.post("/api/v1/webhook-deliveries/{delivery_id}/replay", response_model=WebhookDeliveryRead, status_code=202)
def replay_delivery(
    delivery_id: str,
    session: DbSession,
    clock: ClockDep,
    user: HookManager,
    context: ContextDep,
    org_id: OrgQuery = None,
) -> WebhookDeliveryRead:
    """Send the delivery's event again (a new delivery with the same event id, fresh signature)."""
    return webhooks.replay(
        session=session,
        clock=clock,
        org_id=_org(session, user, org_id),
        delivery_id=delivery_id,
        actor_id=_actor(user),
        context=context,
    )


# --- embedded signing -------------------------------------------------------------------------


@router.get("/api/v1/contracts/{contract_id}/recipients/{recipient_id}/signing-url", response_model=SigningUrlRead)
def signing_url(contract_id: str, recipient_id: str, session: DbSession, user: ContractWriter) -> SigningUrlRead:
    """A waiting signer's link, to embed in the integrator's own app (the signer still confirms by code)."""
    return integrator.signing_url(
        session=session, owner_id=user.user_id, contract_id=contract_id, recipient_id=recipient_id
    )
