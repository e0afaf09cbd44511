"""Who is asking: session resolution and the FastAPI dependencies that guard routes.

A session token arrives as the `qs_session` cookie (pages) or as `Authorization: Bearer <token>`
(API clients). API routes use `OptionalUser`, `CurrentUser` (401 problem) and `OperatorUser`
(403); pages use `PageUser` and `PageOperator`, which send a person to `/login?next=…` instead.
After a major privacy-policy update the re-consent gate (promise P1) sends people to
`/privacy/accept?next=…` (pages) or answers 403 `policy-consent-required` (API); routes under
`/privacy` and logging out stay reachable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request, Response

from qianshu.config import Settings
from qianshu.core.deps import Calling, ClockDep, ContextDep, DbSession
from qianshu.core.errors import Forbidden, Unauthenticated
from qianshu.core.security import SESSION_COOKIE

OPERATOR = "operator"
_GATE_EXEMPT = ("/privacy", "/api/v1/privacy", "/logout", "/api/v1/sessions/current")
_Dep = TypeVar("_Dep", bound=Callable[..., object])
# Dependencies that answer 401 without a signed-in user (or API key), and those that only look for
# one: the OpenAPI document names the credentials each operation takes from them (core/openapi.py).
SIGN_IN_REQUIRED: set[Callable[..., object]] = set()
SIGN_IN_OPTIONAL: set[Callable[..., object]] = set()


def requires_sign_in(dependency: _Dep) -> _Dep:
    """Mark `dependency` as refusing a request without credentials (401)."""
    SIGN_IN_REQUIRED.add(dependency)
    return dependency


def _optional_sign_in(dependency: _Dep) -> _Dep:
    SIGN_IN_OPTIONAL.add(dependency)
    return dependency


@dataclass(frozen=True)
class Principal:
    """The signed-in user behind a request: public ids and role (no personal data)."""

    user_id: str
    session_id: str
    role: str

    @property
    def is_operator(self) -> bool:
        """Tell whether the user holds the operator role."""
        return self.role == OPERATOR


class RedirectTo(Exception):  # a control-flow signal answered with 303, not an error
    """Raised by page dependencies to send the browser elsewhere (303 See Other)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PolicyConsentRequired(Forbidden):
    """The current privacy policy must be accepted again before going on (promise P1)."""

    slug = "policy-consent-required"
    title = "隐私政策已更新，请先阅读并同意"
    title_en = "The privacy policy changed; accept it to continue"


def session_token(request: Request) -> str | None:
    """Return the bearer token or session cookie of the request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def set_session_cookie(response: Response, *, token: str, settings: Settings) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Secure on HTTPS, lives as long as the session."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=bool(settings.cookie_secure),
        path="/",
    )


def clear_session_cookie(response: Response, *, settings: Settings) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=bool(settings.cookie_secure), path="/")


def login_url(request: Request) -> str:
    """Return `/login?next=<this page>`."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def _gate_applies(request: Request, principal: Principal) -> bool:
    if principal.is_operator:
        return False  # staff act under their employment terms, not the user policy
    return not request.url.path.startswith(_GATE_EXEMPT)


def _needs_reconsent(request: Request, session: DbSession, principal: Principal) -> bool:
    if not _gate_applies(request, principal):
        return False
    from qianshu.privacy import service as privacy_service

    return bool(privacy_service.needs_reconsent(session=session, user_id=principal.user_id))


@_optional_sign_in
def get_optional_user(request: Request, session: DbSession) -> Principal | None:
    """Resolve the request's session, or None when there is none (or it expired)."""
    cached = getattr(request.state, "principal_resolved", False)
    if cached:
        principal: Principal | None = request.state.user
        return principal
    token = session_token(request)
    principal = None
    if token:
        from qianshu.accounts import service as accounts_service

        runtime = request.app.state.runtime
        principal = accounts_service.resolve_session(session=session, clock=runtime.clock, token=token)
    request.state.user = principal
    request.state.principal_resolved = True
    return principal


@requires_sign_in
def get_signed_in_user(request: Request, session: DbSession) -> Principal:
    """Require a signed-in user, without the re-consent gate (401 problem otherwise)."""
    principal = get_optional_user(request, session)
    if principal is None:
        raise Unauthenticated("请先登录", detail_en="Sign in first")
    return principal


@requires_sign_in
def get_current_user(request: Request, session: DbSession) -> Principal:
    """Require a signed-in user who accepted the current policy (401 / 403 problem otherwise)."""
    principal = get_signed_in_user(request, session)
    if _needs_reconsent(request, session, principal):
        raise PolicyConsentRequired(
            "隐私政策已更新，请先阅读并同意新版本",
            detail_en="Accept the updated privacy policy first",
            accept_url="/privacy/accept",
        )
    return principal


@requires_sign_in
def get_operator_user(request: Request, session: DbSession) -> Principal:
    """Require a signed-in operator (401 when signed out, 403 for everyone else)."""
    principal = get_current_user(request, session)
    if not principal.is_operator:
        raise Forbidden("仅限平台运营人员", detail_en="Operators only")
    return principal


def get_page_user(request: Request, session: DbSession) -> Principal:
    """Require a signed-in user for a page: redirect to login or to the policy page otherwise."""
    principal = get_optional_user(request, session)
    if principal is None:
        raise RedirectTo(login_url(request))
    if _needs_reconsent(request, session, principal):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise RedirectTo("/privacy/accept?next=" + quote(target, safe=""))
    return principal


def get_page_operator(request: Request, session: DbSession) -> Principal:
    """Require a signed-in operator for a page (login redirect, then 403 page)."""
    principal = get_page_user(request, session)
    if not principal.is_operator:
        raise Forbidden("仅限平台运营人员", detail_en="Operators only")
    return principal


OptionalUser = Annotated[Principal | None, Depends(get_optional_user)]
SignedInUser = Annotated[Principal, Depends(get_signed_in_user)]  # not held back by the re-consent gate
CurrentUser = Annotated[Principal, Depends(get_current_user)]
OperatorUser = Annotated[Principal, Depends(get_operator_user)]
PageUser = Annotated[Principal, Depends(get_page_user)]
PageOperator = Annotated[Principal, Depends(get_page_operator)]


@dataclass(frozen=True)
class Acting(Calling):
    """A signed-in user calling the API, with what every service action takes: session, clock, context."""

    user: Principal


def get_acting(user: CurrentUser, session: DbSession, clock: ClockDep, context: ContextDep) -> Acting:
    """Bundle the signed-in user (behind the re-consent gate) with session, clock and request context."""
    return Acting(user=user, session=session, clock=clock, context=context)


def get_signed_in_acting(user: SignedInUser, session: DbSession, clock: ClockDep, context: ContextDep) -> Acting:
    """Bundle the signed-in user (not held back by the re-consent gate) with session, clock and context."""
    return Acting(user=user, session=session, clock=clock, context=context)


ActingUser = Annotated[Acting, Depends(get_acting)]
SignedInActing = Annotated[Acting, Depends(get_signed_in_acting)]
