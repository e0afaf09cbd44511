"""Jinja2 rendering shared by every domain's pages: layout, locale, CSRF token, flash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from qianshu.core.errors import QianshuError
from qianshu.web.i18n import translator

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def templates() -> Jinja2Templates:
    """Return the shared template environment."""
    return _TEMPLATES


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render template `name` with the layout's common variables."""
    locale = getattr(request.state, "locale", "zh-CN")
    runtime = request.app.state.runtime
    ctx: dict[str, Any] = {
        "request": request,
        "locale": locale,
        "t": translator(locale),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "site_name": runtime.settings.site_name,
        "current_user": getattr(request.state, "user", None),
        "sandbox": runtime.settings.sandbox,
    }
    ctx.update(context or {})
    return _TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def render_error(request: Request, error: QianshuError, *, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render an error page that a person can act on."""
    locale = getattr(request.state, "locale", "zh-CN")
    problem = error.to_problem(locale=locale)
    return render(request, "error.html", {"problem": problem}, status_code=error.status, headers=headers)
