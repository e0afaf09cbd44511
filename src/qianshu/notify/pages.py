"""Pages of notify: the operators' outbox (with the outbox e-mails to read) and the sandbox SMS inbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from qianshu.core.auth import PageOperator
from qianshu.core.deps import ClockDep, DbSession, RuntimeDep
from qianshu.core.errors import NotFound, ServiceUnavailable
from qianshu.notify import sandbox
from qianshu.notify import service as notify_service
from qianshu.web.i18n import translator
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
_CHANNELS = ("sms", "email")
_STATUSES = ("queued", "retrying", "sent", "failed", "cancelled")


@router.get("/operator/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request,
    session: DbSession,
    operator: PageOperator,
    channel: Annotated[str, Query(max_length=16)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """List messages with their delivery status, newest first, recipients masked (operators only)."""
    chosen_channel = channel if channel in _CHANNELS else ""
    chosen_status = status if status in _STATUSES else ""
    messages = notify_service.list_messages(
        session=session,
        channel=chosen_channel or None,
        status=chosen_status or None,
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "notify/outbox.html",
        {
            "messages": messages[:PAGE_SIZE],
            "has_next": len(messages) > PAGE_SIZE,
            "page": page,
            "channel": chosen_channel,
            "status": chosen_status,
            "channels": _CHANNELS,
            "statuses": _STATUSES,
            "email_backend": request.app.state.runtime.settings.email_backend,
        },
    )


@router.get("/operator/outbox/{message_id}", response_class=HTMLResponse)
def outbox_message_page(
    message_id: str, request: Request, session: DbSession, clock: ClockDep, operator: PageOperator
) -> HTMLResponse:
    """Show one message's delivery record and, for an outbox e-mail, its text (the reading is audited)."""
    message = notify_service.get_message_or_raise(session=session, message_id=message_id)
    content: Any = None
    if message.channel == "email":
        try:
            content = notify_service.read_outbox_email(
                session=session, clock=clock, actor=operator.user_id, message_id=message.id
            )
        except notify_service.MessageNotFound:
            content = None
    return render(request, "notify/outbox_message.html", {"message": message, "content": content})


@router.get("/sandbox/sms", response_class=HTMLResponse)
def sandbox_sms_page(
    request: Request,
    runtime: RuntimeDep,
    phone: Annotated[str, Query(max_length=24)] = "",
) -> HTMLResponse:
    """Show what the sandbox SMS provider received, newest first (sandbox mode only)."""
    if not runtime.settings.sandbox:
        raise NotFound()
    notices: list[Notice] = []
    try:
        messages = sandbox.read_inbox(runtime=runtime, phone=phone.strip() or None, limit=200)
    except ServiceUnavailable:
        messages = []
        locale = str(getattr(request.state, "locale", "zh-CN"))
        notices.append(Notice("error", translator(locale)("notify.sandbox_unreachable")))
    return render(
        request,
        "notify/sandbox_sms.html",
        {"messages": messages, "phone": phone.strip(), "notices": notices, "unreachable": bool(notices)},
    )
