"""The shell's own pages: home, language switch, the API reference and the operator console's start page."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from qianshu.core.auth import OptionalUser, PageOperator
from qianshu.core.deps import SettingsDep
from qianshu.core.errors import NotFound
from qianshu.core.security import LOCALE_COOKIE
from qianshu.web.i18n import normalise_locale
from qianshu.web.links import safe_next
from qianshu.web.render import render

router = APIRouter(include_in_schema=False)

LOCALE_COOKIE_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class ConsoleLink:
    """A tile on the operator console; its title and text are `operator.<key>_title/_text`."""

    key: str
    href: str
    sandbox_only: bool = False


# Other domains' operator pages; add a tile here when a new one appears.
CONSOLE_LINKS = (
    ConsoleLink("users", "/operator/users"),
    ConsoleLink("outbox", "/operator/outbox"),
    ConsoleLink("privacy", "/operator/privacy"),
    ConsoleLink("requests", "/operator/privacy/requests"),
    ConsoleLink("identity", "/operator/identity"),
    ConsoleLink("orgs", "/operator/orgs"),
    ConsoleLink("reports", "/operator/evidence/reports"),
    ConsoleLink("jobs", "/operator/jobs"),
    ConsoleLink("sandbox", "/sandbox/sms", sandbox_only=True),
)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: OptionalUser) -> HTMLResponse:
    """Show what the platform does, with calls to action (the header knows who is signed in)."""
    return render(request, "home.html")


@router.get("/api/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    """Browse the OpenAPI document with Swagger UI, served from this origin (vendor/swagger-ui)."""
    return render(request, "api_docs.html")


@router.get("/lang/{code}")
def switch_language(code: str, settings: SettingsDep, next: str | None = None) -> RedirectResponse:
    """Remember the chosen interface language in a cookie and go back to the page."""
    locale = normalise_locale(code)
    if locale is None:
        raise NotFound("不支持该语言", detail_en="Unsupported language")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LOCALE_COOKIE,
        locale,
        max_age=LOCALE_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=bool(settings.cookie_secure),
        path="/",
    )
    return response


@router.get("/operator", response_class=HTMLResponse)
def operator_console(request: Request, settings: SettingsDep, operator: PageOperator) -> HTMLResponse:
    """Show the operator console's start page with links to each operator tool (operators only)."""
    links = [link for link in CONSOLE_LINKS if settings.sandbox or not link.sandbox_only]
    return render(request, "operator/index.html", {"operator_links": links})
