"""FastAPI dependencies shared by every domain: runtime, database session, request context.

The ones that only read the request are `async def`: FastAPI runs a plain `def` dependency in a
worker thread, and each such hop costs more than these functions do. Those that touch the
database (the session, the signed-in user) stay plain functions in the thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from qianshu.config import Settings
from qianshu.core.clock import Clock
from qianshu.core.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    """Return the app's runtime."""
    return _runtime(request)


async def get_settings(request: Request) -> Settings:
    """Return the settings."""
    return _runtime(request).settings


async def get_clock(request: Request) -> Clock:
    """Return the injected clock."""
    return _runtime(request).clock


async def get_db(request: Request) -> AsyncIterator[Session]:
    """Yield a session committed when the route returns, rolled back when it raises.

    Opening a session touches no connection, so it happens here on the event loop; only the
    commit (or rollback) at the end goes to a worker thread.
    """
    session = _runtime(request).sessionmaker()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_discard, session)
        raise
    await run_in_threadpool(_commit, session)


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


@dataclass(frozen=True)
class RequestContext:
    """Who is asking and from where: request id, client address, user agent, locale."""

    request_id: str
    ip: str
    user_agent: str
    locale: str


async def get_request_context(request: Request) -> RequestContext:
    """Build the request context (set up by the request-id middleware)."""
    return RequestContext(
        request_id=getattr(request.state, "request_id", "-"),
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:400],
        locale=getattr(request.state, "locale", "zh-CN"),
    )


def client_ip(request: Request) -> str:
    """Return the client address, trusting X-Forwarded-For only from configured proxies."""
    peer = request.client.host if request.client else "0.0.0.0"  # noqa: S104  # placeholder, not a bind
    settings = _runtime(request).settings
    if peer in settings.trusted_proxies:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return peer


@dataclass(frozen=True)
class Calling:
    """What every service action takes from a request: the database session, the clock and the context."""

    session: Session
    clock: Clock
    context: RequestContext

    @property
    def locale(self) -> str:
        """Return the request's locale (zh-CN or en)."""
        return self.context.locale

    def args(self, **named: Any) -> dict[str, Any]:
        """Return the keyword arguments of a service action: session, clock, context and `named`."""
        return {"session": self.session, "clock": self.clock, "context": self.context, **named}


async def get_calling(session: DbSession, clock: ClockDep, context: ContextDep) -> Calling:
    """Bundle the request's session, clock and context."""
    return Calling(session=session, clock=clock, context=context)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
DbSession = Annotated[Session, Depends(get_db, scope="function")]
ContextDep = Annotated[RequestContext, Depends(get_request_context)]
CallingDep = Annotated[Calling, Depends(get_calling)]
