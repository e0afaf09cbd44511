"""Organisation API keys: created by an owner or administrator, shown once, kept as a hash, scoped.

A key reads `qsk_<key id without prefix>_<secret>`; the id part finds the row, the SHA-256 of the
secret is compared in constant time. Clients send it as `Authorization: Bearer <key>` (no cookie,
so no CSRF token). A key acts for its organisation: contracts and documents it creates are owned
by the organisation id (`owner_id = org_…`), so every key of that organisation sees them and they
do not follow a person who leaves. Each key has scopes (`contracts:read`, `contracts:write`,
`webhooks:manage`) and its own rate limit (requests per minute, 429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.contracts.integrator_schemas import SCOPES, ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from qianshu.contracts.models import ApiKey
from qianshu.core.auth import Principal, get_current_user, requires_sign_in
from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import DbSession, RequestContext
from qianshu.core.errors import Forbidden, NotFound, Unauthenticated
from qianshu.core.ids import is_id, new_id, new_token
from qianshu.core.logging import get_logger
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import runtime_of

log = get_logger("qianshu.contracts")

KEY_PREFIX = "qsk_"
API_KEY_ROLE = "api_key"
_KEY_RE = re.compile(r"^qsk_([0-9a-hjkmnp-tv-z]{20})_([A-Za-z0-9_-]{40,60})$")
_USED_EVERY = timedelta(minutes=1)
_MANAGERS = ("owner", "admin")


class ApiKeyInvalid(Unauthenticated):
    """The bearer API key is unknown, malformed or revoked."""

    slug = "api-key-invalid"
    title = "API 密钥无效或已吊销"
    title_en = "The API key is invalid or revoked"


class ScopeMissing(Forbidden):
    """The API key lacks the scope the route needs."""

    slug = "insufficient-scope"
    title = "API 密钥缺少所需权限"
    title_en = "The API key lacks the required scope"


@dataclass(frozen=True)
class KeyPrincipal(Principal):
    """A request authenticated by an API key; `user_id` is the owner id it acts as (the org id)."""

    org_id: str = ""
    key_id: str = ""
    scopes: tuple[str, ...] = ()


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(f"contracts.apikey.v1:{secret}".encode()).hexdigest()


def require_org_manager(session: Session, *, org_id: str, user_id: str) -> None:
    """Raise 404 for non-members and 403 for members who are not owner or administrator."""
    from qianshu.orgs import service as orgs_service

    role = orgs_service.member_role(session=session, org_id=org_id, user_id=user_id) if is_id(org_id, "org") else None
    if role is None:
        raise NotFound("未找到该企业", detail_en="No such organisation")
    if role not in _MANAGERS:
        raise Forbidden("仅企业所有者或管理员可管理 API 密钥和 Webhook", detail_en="Owners and administrators only")


def _read(row: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        scopes=list(row.scopes),
        rate_limit=row.rate_limit,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_key(
    *, session: Session, clock: Clock, actor_id: str, data: ApiKeyCreate, context: RequestContext | None = None
) -> ApiKeyCreated:
    """Create a key for the organisation; the answer holds the secret, which is never shown again."""
    from qianshu.evidence import service as evidence_service

    require_org_manager(session, org_id=data.org_id, user_id=actor_id)
    key_id = new_id("key")
    secret = new_token(36)
    row = ApiKey(
        id=key_id,
        org_id=data.org_id,
        name=" ".join(data.name.split()),
        secret_hash=_secret_hash(secret),
        scopes=[s for s in SCOPES if s in data.scopes],
        rate_limit=data.rate_limit,
        created_by=actor_id,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"org:{data.org_id}",
        actor=actor_id,
        action="contracts.api_key_created",
        object_id=key_id,
        data={"scopes": list(row.scopes), "rate_limit": row.rate_limit},
        context=context,
    )
    log.info("api_key_created", key_id=key_id, org_id=data.org_id)
    return ApiKeyCreated(**_read(row).model_dump(), secret=key_prefix(key_id) + secret)


def list_keys(*, session: Session, org_id: str, actor_id: str) -> list[ApiKeyRead]:
    """Return the organisation's keys, newest first (revoked ones included, marked)."""
    require_org_manager(session, org_id=org_id, user_id=actor_id)
    rows = session.scalars(
        select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return [_read(r) for r in rows]


def revoke_key(
    *,
    session: Session,
    clock: Clock,
    key_id: str,
    actor_id: str,
    context: RequestContext | None = None,
    org_id: str | None = None,
) -> ApiKeyRead:
    """Revoke a key at once; requests with it get 401 from now on (`org_id`: only a key of that org)."""
    from qianshu.evidence import service as evidence_service

    row = session.get(ApiKey, key_id) if is_id(key_id, "key") else None
    if row is None or (org_id is not None and row.org_id != org_id):
        raise NotFound("未找到该 API 密钥", detail_en="No such API key")
    require_org_manager(session, org_id=row.org_id, user_id=actor_id)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream=f"org:{row.org_id}",
            actor=actor_id,
            action="contracts.api_key_revoked",
            object_id=row.id,
            data={},
            context=context,
        )
        log.info("api_key_revoked", key_id=row.id, org_id=row.org_id)
    return _read(row)


def key_prefix(key_id: str) -> str:
    """Return the public start of a key's secret (`qsk_<id>_`), to recognise a key without its secret."""
    return f"{KEY_PREFIX}{key_id[4:]}_"


def authenticate(*, session: Session, clock: Clock, token: str) -> KeyPrincipal | None:
    """Return the principal of an API key; None when `token` is not a key; raise when it is a bad one."""
    match = _KEY_RE.fullmatch(token)
    if not token.startswith(KEY_PREFIX):
        return None
    row = session.get(ApiKey, "key_" + match.group(1)) if match else None
    if match is None or row is None:
        raise ApiKeyInvalid("API 密钥无效", detail_en="Unknown or malformed API key")
    if not hmac.compare_digest(_secret_hash(match.group(2)), row.secret_hash):
        raise ApiKeyInvalid("API 密钥无效", detail_en="Unknown or malformed API key")
    if row.revoked_at is not None:
        raise ApiKeyInvalid("API 密钥已吊销", detail_en="The API key was revoked")
    now = clock.now()
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= _USED_EVERY:
        # Own short transaction, like session last-seen: the request's transaction stays read-only.
        with runtime_of(session).transaction() as s:
            s.execute(
                update(ApiKey)
                .where(ApiKey.id == row.id)
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
    return KeyPrincipal(
        user_id=row.org_id,
        session_id=row.id,
        role=API_KEY_ROLE,
        org_id=row.org_id,
        key_id=row.id,
        scopes=tuple(row.scopes),
    )


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def key_principal(request: Request, session: Session, scope: str) -> KeyPrincipal | None:
    """Authenticate the request's API key for `scope` (401, 403, 429), or None without a key."""
    cached = getattr(request.state, "api_key_principal", None)
    runtime = request.app.state.runtime
    principal = cached or authenticate(session=session, clock=runtime.clock, token=_bearer(request))
    if principal is None:
        return None
    if cached is None:
        request.state.api_key_principal = principal
        row = session.get(ApiKey, principal.key_id)
        assert row is not None
        enforce(runtime, f"contracts.api_key:{principal.key_id}", Limit(row.rate_limit, 60))
    if scope not in principal.scopes:
        raise ScopeMissing(
            f"该 API 密钥缺少 {scope} 权限", detail_en=f"The API key lacks the {scope} scope", scope=scope
        )
    return principal


def caller(scope: str) -> Callable[[Request, Session], Principal]:
    """Return a dependency: the API key (with `scope`) or the signed-in user behind the request."""
    if scope not in SCOPES:
        raise ValueError(scope)

    @requires_sign_in
    def dependency(request: Request, session: DbSession) -> Principal:
        principal = key_principal(request, session, scope)
        if principal is not None:
            return principal
        return get_current_user(request, session)

    dependency.__name__ = "caller_" + scope.replace(":", "_")
    return dependency


def org_of(principal: Principal) -> str | None:
    """Return the organisation an API key acts for (None for a signed-in person)."""
    return principal.org_id if isinstance(principal, KeyPrincipal) else None
