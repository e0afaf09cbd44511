"""The developers page of an organisation: API keys, webhook endpoints, their delivery log, replay.

Only the organisation's owner and administrators see it (others get the readable 404 or 403 of
`apikeys.require_org_manager`). Plain POST forms with the CSRF field. A new key's secret and a
new endpoint's signing secret are rendered once, in the answer to the POST that made them
(`Cache-Control: no-store`; static/developers.js swaps the address to the plain page, so a reload
shows the list without the secret); every other action answers 303 to the page with a notice.
A failure rolls back and renders the page again with a readable message and the error's status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from qianshu.contracts import apikeys, webhooks
from qianshu.contracts.integrator_schemas import EVENTS, SCOPES, ApiKeyCreate, WebhookCreate
from qianshu.core.errors import InvalidInput, NotFound, QianshuError
from qianshu.orgs import service as orgs_service
from qianshu.web.acting import PageActing, PageActingUser, attempt
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

LOG_LIMIT = 10  # deliveries shown per endpoint (the API pages through all of them)
_MAX_CHOICES = 20
FormStr = Annotated[str, Form(max_length=500)]
FormList = Annotated[list[str], Form()]


def _base(org_id: str) -> str:
    return f"/orgs/{org_id}/developers"


def _choices(values: list[str], allowed: tuple[str, ...], what_zh: str, what_en: str) -> list[str]:
    """Return the chosen values in catalogue order, or raise a readable 422 for unknown ones."""
    if len(values) > _MAX_CHOICES:
        raise InvalidInput("选择的项目过多", detail_en="Too many choices")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        name = unknown[0][:40]
        raise InvalidInput(f"未知的{what_zh}：{name}", detail_en=f"Unknown {what_en}: {name}")
    return [v for v in allowed if v in values]


def _page(
    acting: PageActing,
    org_id: str,
    *,
    error: QianshuError | None = None,
    created: dict[str, Any] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render the page (with a one-time secret or an error) for an owner or administrator."""
    session, request, user = acting.session, acting.request, acting.user
    notices: list[Notice] = []
    if error is not None:  # `attempt` has rolled the failed action back
        locale = str(getattr(request.state, "locale", "zh-CN"))
        notices.append(Notice("error", str(error.to_problem(locale=locale)["detail"])))
        status = error.status
    apikeys.require_org_manager(session, org_id=org_id, user_id=user.user_id)
    org = orgs_service.get_org_info(session=session, org_id=org_id)
    if org is None:  # pragma: no cover - a member's organisation exists
        raise NotFound("未找到该企业", detail_en="No such organisation")
    keys = apikeys.list_keys(session=session, org_id=org_id, actor_id=user.user_id)
    hooks = webhooks.list_endpoints(session=session, org_id=org_id)
    logs = webhooks.recent_deliveries(session=session, org_id=org_id, limit=LOG_LIMIT)
    context = {
        "org": org,
        "keys": keys,
        "prefixes": {k.id: apikeys.key_prefix(k.id) for k in keys},
        "hooks": hooks,
        "logs": logs,
        "scopes": SCOPES,
        "events": EVENTS,
        "created": created,
        "form": form or {},
        "base": _base(org_id),
        "notices": notices,
    }
    headers = {"Cache-Control": "no-store"}
    return render(request, "contracts/developers.html", context, status_code=status, headers=headers)


@router.get("/orgs/{org_id}/developers", response_class=HTMLResponse)
def developers_page(org_id: str, acting: PageActingUser) -> HTMLResponse:
    """Show the organisation's API keys and webhook endpoints with their delivery log."""
    return _page(acting, org_id[:40])


@router.post("/orgs/{org_id}/developers/keys", response_model=None)
def create_key(
    org_id: str,
    acting: PageActingUser,
    name: FormStr = "",
    scopes: FormList = [],  # noqa: B006  (FastAPI copies form defaults)
    rate_limit: FormStr = "600",
) -> Response:
    """Create an API key and show its secret this once."""
    org_id = org_id[:40]
    form = {"name": name, "scopes": scopes[:_MAX_CHOICES], "rate_limit": rate_limit}

    def act() -> Response:
        apikeys.require_org_manager(acting.session, org_id=org_id, user_id=acting.user.user_id)
        if not name.strip():
            raise InvalidInput("请填写密钥名称", detail_en="Give the key a name")
        chosen = _choices(scopes, SCOPES, "权限", "scope")
        if not chosen:
            raise InvalidInput("请至少选择一项权限", detail_en="Choose at least one scope")
        if not (rate_limit.strip().isascii() and rate_limit.strip().isdecimal()):
            raise InvalidInput("每分钟请求上限应为整数", detail_en="The rate limit must be a whole number")
        try:
            data = ApiKeyCreate(org_id=org_id, name=name.strip(), scopes=chosen, rate_limit=int(rate_limit))  # type: ignore[arg-type]  # checked against SCOPES above
        except ValidationError:
            raise InvalidInput(
                "名称不超过 80 字，每分钟请求上限为 1–6000",
                detail_en="Names take at most 80 characters; the rate limit is 1–6000 per minute",
            ) from None
        key = apikeys.create_key(
            session=acting.session, clock=acting.clock, actor_id=acting.user.user_id, data=data, context=acting.context
        )
        acting.session.commit()  # the secret is shown only once the key is stored
        return _page(acting, org_id, created={"kind": "key", "item": key}, status=201)

    return attempt(act, lambda exc: _page(acting, org_id, error=exc, form={"key": form}), rollback=acting.session)


def _managed(acting: PageActing, org_id: str, action: Callable[[], str]) -> Response:
    """Run one of the page's small actions as the organisation's manager; 303 to the page with its notice.

    `action` does the work and returns the notice key (and an optional `#fragment`).
    """

    def act() -> Response:
        apikeys.require_org_manager(acting.session, org_id=org_id, user_id=acting.user.user_id)
        return RedirectResponse(f"{_base(org_id)}?notice={action()}", status_code=303)

    return attempt(act, lambda exc: _page(acting, org_id, error=exc), rollback=acting.session)


@router.post("/orgs/{org_id}/developers/keys/{key_id}/revoke", response_model=None)
def revoke_key(org_id: str, key_id: str, acting: PageActingUser) -> Response:
    """Revoke one of the organisation's API keys."""
    org_id = org_id[:40]

    def revoke() -> str:
        apikeys.revoke_key(
            session=acting.session,
            clock=acting.clock,
            key_id=key_id[:40],
            actor_id=acting.user.user_id,
            context=acting.context,
            org_id=org_id,
        )
        return "contracts_developers_key_revoked"

    return _managed(acting, org_id, revoke)


@router.post("/orgs/{org_id}/developers/webhooks", response_model=None)
def create_webhook(
    org_id: str,
    acting: PageActingUser,
    url: FormStr = "",
    events: FormList = [],  # noqa: B006  (FastAPI copies form defaults)
) -> Response:
    """Add a webhook endpoint and show its signing secret this once."""
    org_id = org_id[:40]
    form = {"url": url, "events": events[:_MAX_CHOICES]}

    def act() -> Response:
        apikeys.require_org_manager(acting.session, org_id=org_id, user_id=acting.user.user_id)
        if not url.strip():
            raise InvalidInput("请填写 Webhook 地址", detail_en="Enter the webhook URL")
        chosen = _choices(events, EVENTS, "事件", "event")
        if not chosen:
            raise InvalidInput("请至少选择一个事件", detail_en="Choose at least one event")
        data = WebhookCreate(org_id=org_id, url=url.strip(), events=chosen)  # type: ignore[arg-type]  # checked against EVENTS above
        hook = webhooks.create_endpoint(
            session=acting.session,
            clock=acting.clock,
            org_id=org_id,
            actor_id=acting.user.user_id,
            data=data,
            context=acting.context,
        )
        acting.session.commit()  # the secret is shown only once the endpoint is stored
        return _page(acting, org_id, created={"kind": "webhook", "item": hook}, status=201)

    return attempt(act, lambda exc: _page(acting, org_id, error=exc, form={"webhook": form}), rollback=acting.session)


@router.post("/orgs/{org_id}/developers/webhooks/{webhook_id}/disable", response_model=None)
def disable_webhook(org_id: str, webhook_id: str, acting: PageActingUser) -> Response:
    """Stop sending to an endpoint (its delivery log stays)."""
    org_id = org_id[:40]

    def disable() -> str:
        webhooks.disable_endpoint(
            session=acting.session,
            clock=acting.clock,
            org_id=org_id,
            webhook_id=webhook_id[:40],
            actor_id=acting.user.user_id,
            context=acting.context,
        )
        return "contracts_developers_webhook_disabled"

    return _managed(acting, org_id, disable)


@router.post("/orgs/{org_id}/developers/deliveries/{delivery_id}/replay", response_model=None)
def replay_delivery(org_id: str, delivery_id: str, acting: PageActingUser) -> Response:
    """Send a delivery's event again (a new delivery with the same event id)."""
    org_id = org_id[:40]

    def replay() -> str:
        replayed = webhooks.replay(
            session=acting.session,
            clock=acting.clock,
            org_id=org_id,
            delivery_id=delivery_id[:40],
            actor_id=acting.user.user_id,
            context=acting.context,
        )
        return f"contracts_developers_replayed#hook-{replayed.webhook_id}"

    return _managed(acting, org_id, replay)
