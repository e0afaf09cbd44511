"""Webhooks: an organisation's endpoints, events from the contract flow, signed deliveries, replay.

Events fire for contracts owned by an organisation (created with its API keys). Each event makes
one delivery per active endpoint subscribed to it, in the transaction of the change itself, and a
job (`contracts.webhook_deliver`) POSTs it. A failed attempt (no answer within the timeouts, or a
status outside 2xx; redirects are not followed) is retried by a new job after an exponential
backoff (`jobs.service.backoff`), up to `MAX_ATTEMPTS`; then the delivery is `failed`. The
integrator lists deliveries and replays any of them: a replay is a new delivery of the same event
(same `X-Qianshu-Event-Id`, fresh timestamp and signature).

Request headers of a delivery:

- `X-Qianshu-Event`: the event name, e.g. `contract.completed`
- `X-Qianshu-Event-Id`: `evt_…`, the same for retries and replays (receivers dedupe on it)
- `X-Qianshu-Delivery`: `dlv_…`, this delivery
- `X-Qianshu-Timestamp`: Unix seconds when this attempt was signed
- `X-Qianshu-Signature`: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`

A receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant
time, and refuses timestamps more than five minutes away from its clock (`verify_signature`), so
a captured request cannot be replayed later. Payloads carry ids and statuses, never names,
contacts or titles.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from qianshu.contracts import cursors
from qianshu.contracts.integrator_schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookRead,
)
from qianshu.contracts.models import Contract, Webhook, WebhookDelivery
from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.ids import is_id, new_id, new_token
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.core.security import equal_secrets
from qianshu.jobs import service as jobs_service
from qianshu.vault import service as vault_service

log = get_logger("qianshu.contracts")

DELIVER_JOB = "contracts.webhook_deliver"
MAX_ATTEMPTS = 10
TOLERANCE_SECONDS = 300
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
SIGNATURE_VERSION = "v1"
_TABLE = "contracts_webhook"
USER_AGENT = "Qianshu-Webhooks/1"


class WebhookUrlInvalid(InvalidInput):
    """The endpoint URL is not an http(s) URL the platform may call."""

    slug = "webhook-url-invalid"
    title = "Webhook 地址无效"
    title_en = "Invalid webhook URL"


# --- signatures -----------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the `X-Qianshu-Signature` value for a body signed at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def verify_signature(
    *, secret: str, timestamp: str, body: bytes, header: str, now: datetime, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Tell whether a delivery is authentic and fresh (what a receiver should do)."""
    if not timestamp.isdigit() or abs(int(now.timestamp()) - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(equal_secrets(expected, part.strip()) for part in header.split(","))


def body_of(payload: dict[str, Any]) -> bytes:
    """Return the exact bytes sent for a payload (compact UTF-8 JSON)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


# --- endpoint URLs --------------------------------------------------------------------------


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def check_url(url: str, *, allow_private: bool) -> str:
    """Return the cleaned URL, or raise WebhookUrlInvalid (only http/https to a public host)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlInvalid("Webhook 地址格式不正确", detail_en="The URL is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlInvalid("Webhook 地址必须以 http:// 或 https:// 开头", detail_en="Only http and https URLs")
    host = parts.hostname or ""
    if not host or parts.username is not None or parts.password is not None or port == 0:
        raise WebhookUrlInvalid(
            "Webhook 地址缺少主机名或含有账号信息", detail_en="The URL needs a host, no credentials"
        )
    if any(c.isspace() for c in url) or parts.fragment:
        raise WebhookUrlInvalid("Webhook 地址格式不正确", detail_en="The URL is malformed")
    if not allow_private:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if host == "localhost" or host.endswith(".localhost") or (literal is not None and not _public(host)):
            raise WebhookUrlInvalid(
                "Webhook 地址不能指向内网或本机", detail_en="Private and loopback addresses are refused"
            )
    return url


def _check_resolved(url: str) -> None:
    """Refuse a host that resolves to a private address (DNS rebinding) when delivering."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", port, proto=socket.IPPROTO_TCP)
    except OSError:
        return  # the HTTP client reports the failure to resolve
    if any(not _public(str(info[4][0]).split("%")[0]) for info in infos):
        raise WebhookUrlInvalid("Webhook 地址解析到内网地址", detail_en="The host resolves to a private address")


def _allow_private(session: Session) -> bool:
    # Local development and the sandbox deliver to loopback receivers; production refuses them.
    return bool(runtime_of(session).settings.sandbox)


# --- endpoints ------------------------------------------------------------------------------


def _read(row: Webhook) -> WebhookRead:
    return WebhookRead(
        id=row.id, org_id=row.org_id, url=row.url, events=list(row.events), status=row.status, created_at=row.created_at
    )


def create_endpoint(
    *,
    session: Session,
    clock: Clock,
    org_id: str,
    actor_id: str,
    data: WebhookCreate,
    context: RequestContext | None = None,
) -> WebhookCreated:
    """Add an endpoint; the answer holds its signing secret, which is never shown again."""
    from qianshu.evidence import service as evidence_service

    url = check_url(data.url, allow_private=_allow_private(session))
    hook_id, secret = new_id("whk"), "whsec_" + new_token(32)
    row = Webhook(
        id=hook_id,
        org_id=org_id,
        url=url,
        events=sorted(set(data.events)),
        secret_enc=vault_service.encrypt_field(
            session=session, subject_id=org_id, table=_TABLE, column="secret", row_id=hook_id, value=secret
        ),
        status="active",
        created_by=actor_id,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"org:{org_id}",
        actor=actor_id,
        action="contracts.webhook_created",
        object_id=hook_id,
        data={"events": list(row.events)},
        context=context,
    )
    return WebhookCreated(**_read(row).model_dump(), secret=secret)


def endpoint_row(session: Session, *, org_id: str, webhook_id: str) -> Webhook:
    """Return the organisation's endpoint or raise NotFound (others' endpoints look absent)."""
    row = session.get(Webhook, webhook_id) if is_id(webhook_id, "whk") else None
    if row is None or row.org_id != org_id:
        raise NotFound("未找到该 Webhook", detail_en="No such webhook")
    return row


def list_endpoints(*, session: Session, org_id: str) -> list[WebhookRead]:
    """Return the organisation's endpoints, newest first."""
    rows = session.scalars(
        select(Webhook).where(Webhook.org_id == org_id).order_by(Webhook.created_at.desc(), Webhook.id.desc())
    )
    return [_read(r) for r in rows]


def disable_endpoint(
    *,
    session: Session,
    clock: Clock,
    org_id: str,
    webhook_id: str,
    actor_id: str,
    context: RequestContext | None = None,
) -> WebhookRead:
    """Stop sending to an endpoint (pending deliveries to it fail; the log stays)."""
    from qianshu.evidence import service as evidence_service

    row = endpoint_row(session, org_id=org_id, webhook_id=webhook_id)
    if row.status != "disabled":
        row.status = "disabled"
        session.flush()
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream=f"org:{org_id}",
            actor=actor_id,
            action="contracts.webhook_disabled",
            object_id=row.id,
            data={},
            context=context,
        )
    return _read(row)


# --- events and deliveries ------------------------------------------------------------------


def emit(session: Session, clock: Clock, contract: Contract, event: str, *, recipient: Any = None) -> list[str]:
    """Queue `event` about `contract` for every subscribed endpoint of its organisation; return delivery ids.

    `recipient` (a contracts recipient row) adds its id and status. Contracts owned by a person
    (not an organisation) have no webhooks.
    """
    if not is_id(contract.owner_id, "org"):
        return []
    hooks = [
        h
        for h in session.scalars(select(Webhook).where(Webhook.org_id == contract.owner_id, Webhook.status == "active"))
        if event in h.events
    ]
    if not hooks:
        return []
    now = clock.now()
    event_id = new_id("evt")
    data: dict[str, Any] = {"contract_id": contract.id, "status": contract.status}
    if recipient is not None:
        data.update(recipient_id=recipient.id, recipient_status=recipient.status)
    payload = {"id": event_id, "type": event, "created_at": now.isoformat(), "data": data}
    return [_queue(session, clock, hook, event_id, event, payload) for hook in hooks]


def _queue(
    session: Session,
    clock: Clock,
    hook: Webhook,
    event_id: str,
    event: str,
    payload: dict[str, Any],
    replay_of: str | None = None,
) -> str:
    now = clock.now()
    row = WebhookDelivery(
        id=new_id("dlv"),
        webhook_id=hook.id,
        org_id=hook.org_id,
        event_id=event_id,
        event=event,
        payload=payload,
        status="pending",
        attempts=0,
        replay_of=replay_of,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    session.flush()
    jobs_service.enqueue(session=session, clock=clock, kind=DELIVER_JOB, payload={"delivery_id": row.id})
    return row.id


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import httpx

    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        return client.post(url, content=body, headers=headers).status_code


def deliver(*, runtime: Runtime, session: Session, delivery_id: str) -> None:
    """Make one attempt at a pending delivery; schedule the next one with backoff if it fails."""
    import httpx

    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.status != "pending":
        return
    clock = runtime.clock
    now = clock.now()
    hook = session.get(Webhook, row.webhook_id)
    row.attempts += 1
    row.last_attempt_at = now
    if hook is None or hook.status != "active":
        row.status, row.next_attempt_at, row.last_error = "failed", None, "endpoint disabled"
        session.flush()
        return
    secret = vault_service.decrypt_field(
        session=session, subject_id=hook.org_id, table=_TABLE, column="secret", row_id=hook.id, blob=hook.secret_enc
    )
    body = body_of(row.payload)
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Qianshu-Event": row.event,
        "X-Qianshu-Event-Id": row.event_id,
        "X-Qianshu-Delivery": row.id,
        "X-Qianshu-Timestamp": timestamp,
        "X-Qianshu-Signature": signature(secret, timestamp, body),
    }
    error: str | None = None
    status: int | None = None
    try:
        if not runtime.settings.sandbox:
            check_url(hook.url, allow_private=False)
            _check_resolved(hook.url)
        status = _post(hook.url, body, headers)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except WebhookUrlInvalid:
        error = "target address refused"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    row.response_status = status
    if error is None:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = "delivered", now, None, None
        log.info("webhook_delivered", delivery_id=row.id, attempts=row.attempts, status=status)
    elif row.attempts >= MAX_ATTEMPTS:
        row.status, row.next_attempt_at, row.last_error = "failed", None, error
        log.warning("webhook_failed", delivery_id=row.id, attempts=row.attempts, error=error)
    else:
        delay = jobs_service.backoff(row.attempts)
        row.next_attempt_at, row.last_error = now + delay, error
        jobs_service.enqueue(
            session=session, clock=clock, kind=DELIVER_JOB, payload={"delivery_id": row.id}, delay=delay
        )
        log.info("webhook_retry", delivery_id=row.id, attempts=row.attempts, error=error)
    session.flush()


def _delivery_read(row: WebhookDelivery) -> WebhookDeliveryRead:
    return WebhookDeliveryRead(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event=row.event,
        status=row.status,  # type: ignore[arg-type]  # the column holds pending | delivered | failed
        attempts=row.attempts,
        replay_of=row.replay_of,
        response_status=row.response_status,
        last_error=row.last_error,
        created_at=row.created_at,
        last_attempt_at=row.last_attempt_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        payload=dict(row.payload),
    )


def list_deliveries(
    *, session: Session, org_id: str, webhook_id: str | None = None, cursor: str | None = None, limit: int = 50
) -> WebhookDeliveryPage:
    """Return the organisation's delivery log, newest first, one page at a time."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.org_id == org_id)
    if webhook_id is not None:
        endpoint_row(session, org_id=org_id, webhook_id=webhook_id)
        stmt = stmt.where(WebhookDelivery.webhook_id == webhook_id)
    cond = cursors.after(WebhookDelivery.created_at, WebhookDelivery.id, cursor)
    if cond is not None:
        stmt = stmt.where(cond)
    limit = max(1, min(limit, cursors.MAX_LIMIT))
    rows = list(
        session.scalars(stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(rows[-1].created_at, rows[-1].id) if more and rows else None
    return WebhookDeliveryPage(items=[_delivery_read(r) for r in rows], next_cursor=next_cursor)


def recent_deliveries(*, session: Session, org_id: str, limit: int) -> dict[str, list[WebhookDeliveryRead]]:
    """Return each of the organisation's endpoints' newest `limit` deliveries, newest first, in one query."""
    newest_first = (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    ranked = (
        select(
            WebhookDelivery,
            func.row_number().over(partition_by=WebhookDelivery.webhook_id, order_by=newest_first).label("n"),
        )
        .where(WebhookDelivery.org_id == org_id)
        .subquery()
    )
    delivery = aliased(WebhookDelivery, ranked)
    rows = session.scalars(
        select(delivery)
        .where(ranked.c.n <= limit)
        .order_by(delivery.webhook_id, delivery.created_at.desc(), delivery.id.desc())
    )
    found: dict[str, list[WebhookDeliveryRead]] = {}
    for row in rows:
        found.setdefault(row.webhook_id, []).append(_delivery_read(row))
    return found


def get_delivery(*, session: Session, org_id: str, delivery_id: str) -> WebhookDeliveryRead:
    """Return one delivery of the organisation."""
    return _delivery_read(_delivery_row(session, org_id, delivery_id))


def _delivery_row(session: Session, org_id: str, delivery_id: str) -> WebhookDelivery:
    row = session.get(WebhookDelivery, delivery_id) if is_id(delivery_id, "dlv") else None
    if row is None or row.org_id != org_id:
        raise NotFound("未找到该投递记录", detail_en="No such delivery")
    return row


def replay(
    *,
    session: Session,
    clock: Clock,
    org_id: str,
    delivery_id: str,
    actor_id: str,
    context: RequestContext | None = None,
) -> WebhookDeliveryRead:
    """Send a delivery's event again to its endpoint, as a new delivery (same event id)."""
    from qianshu.evidence import service as evidence_service

    original = _delivery_row(session, org_id, delivery_id)
    hook = endpoint_row(session, org_id=org_id, webhook_id=original.webhook_id)
    if hook.status != "active":
        raise Conflict("该 Webhook 已停用，不能重发", detail_en="The webhook is disabled")
    new_id_ = _queue(session, clock, hook, original.event_id, original.event, dict(original.payload), original.id)
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"org:{org_id}",
        actor=actor_id,
        action="contracts.webhook_replayed",
        object_id=new_id_,
        data={"replay_of": original.id, "event_id": original.event_id},
        context=context,
    )
    row = session.get(WebhookDelivery, new_id_)
    assert row is not None
    return _delivery_read(row)
