"""Jinja2 rendering shared by every domain's pages: layout, locale, CSRF token, notices.

Every template gets: `request`, `locale`, `t` (translate), `csrf_token` and `csrf_input` (the
hidden form field), `site_name`, `current_user` (a `core.auth.Principal` or None), `sandbox`,
`here` (path and query of this page, for "come back here" links) and `notices` (`Notice` list).

A page that redirects after a POST can show a one-line message on the next page without a cookie:
redirect to `…?notice=<name>`; when `notice.<name>` is a catalog key, it shows as a success notice.
Only catalog keys are shown, so the query cannot inject text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from qianshu.core.errors import QianshuError
from qianshu.core.security import CSRF_FIELD, SESSION_COOKIE
from qianshu.web.i18n import has_key, translator

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass(frozen=True)
class Notice:
    """A message box shown above the page content; `kind` is info, success, warning or error."""

    kind: str
    text: str


def templates() -> Jinja2Templates:
    """Return the shared template environment."""
    return _TEMPLATES


def here(request: Request) -> str:
    """Return this page's path and query, without a `lang` or `notice` parameter."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in {"lang", "notice"}]
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


def current_user(request: Request) -> Any:
    """Return who is signed in, resolving the session cookie when the route did not ask (or None).

    Routes with an `OptionalUser`/`PageUser` dependency have resolved it already; for the others
    (and for error pages) the layout still needs it to show the right navigation.
    """
    if getattr(request.state, "principal_resolved", False):
        return getattr(request.state, "user", None)
    if SESSION_COOKIE not in request.cookies:
        return None
    from qianshu.core.auth import get_optional_user

    runtime = request.app.state.runtime
    try:
        with runtime.sessionmaker() as session:
            return get_optional_user(request, session)
    except (SQLAlchemyError, QianshuError):  # the page must still render (it may be the error page)
        return None


def _query_notices(request: Request, locale: str) -> list[Notice]:
    name = request.query_params.get("notice", "")
    if not name or len(name) > 64 or not name.replace("_", "").isalnum():
        return []
    key = f"notice.{name}"
    if not has_key(key):
        return []
    return [Notice("success", translator(locale)(key))]


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render template `name` with the layout's common variables."""
    locale = getattr(request.state, "locale", "zh-CN")
    runtime = request.app.state.runtime
    csrf_token = getattr(request.state, "csrf_token", "")
    ctx: dict[str, Any] = {
        "request": request,
        "locale": locale,
        "t": translator(locale),
        "csrf_token": csrf_token,
        "csrf_input": Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token),
        "site_name": runtime.settings.site_name,
        "current_user": current_user(request),
        "sandbox": runtime.settings.sandbox,
        "here": here(request),
        "notices": _query_notices(request, locale),
        "request_id": getattr(request.state, "request_id", ""),
    }
    extra = dict(context or {})
    if "notices" in extra:
        ctx["notices"] = ctx["notices"] + list(extra.pop("notices") or [])
    ctx.update(extra)
    return _TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def render_error(
    request: Request, error: QianshuError, *, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """Render an error page that a person can act on."""
    locale = getattr(request.state, "locale", "zh-CN")
    problem = error.to_problem(locale=locale)
    return render(request, "error.html", {"problem": problem}, status_code=error.status, headers=headers)
