"""JSON API of notify: the operators' message list, and the sandbox SMS provider (sandbox mode)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qianshu.core.auth import OperatorUser
from qianshu.core.deps import DbSession
from qianshu.notify import sandbox
from qianshu.notify import service as notify_service
from qianshu.notify.schemas import Channel, MessageRead, MessageStatus

router = APIRouter(tags=["notify"])
router.include_router(sandbox.router)


@router.get("/api/v1/operator/messages", response_model=list[MessageRead])
def list_messages(
    session: DbSession,
    operator: OperatorUser,
    channel: Channel | None = None,
    status: MessageStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[MessageRead]:
    """List sent and queued messages, newest first, recipients masked (operators only)."""
    return notify_service.list_messages(
        session=session, channel=channel, status=status, limit=limit, offset=offset
    )


@router.get("/api/v1/operator/messages/{message_id}", response_model=MessageRead)
def get_message(message_id: str, session: DbSession, operator: OperatorUser) -> MessageRead:
    """Return one message's delivery record, recipient masked (operators only)."""
    return notify_service.get_message_or_raise(session=session, message_id=message_id)
