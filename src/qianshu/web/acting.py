"""What a page route acting for a signed-in person takes, bundled in one dependency, and form helpers.

`PageActing` holds the request, the signed-in user (`PageUser`: login redirect otherwise), the
database session, the clock and the request context; `attempt` runs a form's action and answers
with its result, or with the page re-rendered around the error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from qianshu.core.auth import PageUser, Principal
from qianshu.core.deps import Calling, ClockDep, ContextDep, DbSession
from qianshu.core.errors import QianshuError


@dataclass(frozen=True)
class PageActing(Calling):
    """A signed-in person on a page: the request, and what every service action takes."""

    request: Request
    user: Principal


def get_page_acting(
    request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> PageActing:
    """Bundle the signed-in person with the request, session, clock and request context."""
    return PageActing(request=request, user=user, session=session, clock=clock, context=context)


PageActingUser = Annotated[PageActing, Depends(get_page_acting)]


def attempt(
    action: Callable[[], Response],
    on_error: Callable[[QianshuError], HTMLResponse],
    *,
    rollback: Session | None = None,
) -> Response:
    """Return `action()`; on a QianshuError roll back `rollback` (when given) and return `on_error(error)`."""
    try:
        return action()
    except QianshuError as exc:
        if rollback is not None:
            rollback.rollback()
        return on_error(exc)
