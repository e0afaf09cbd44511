"""Security headers, request ids, locale and CSRF protection for cookie-authenticated forms."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from qianshu.core.errors import CsrfFailed

CSRF_COOKIE = "qs_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_COOKIE = "qs_session"
LOCALE_COOKIE = "qs_lang"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class SecurityMiddleware(BaseHTTPMiddleware):
    """Attach a request id, pick the locale, issue (and at login rotate) the CSRF cookie, set security headers."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        import structlog

        request_id = request.headers.get("x-request-id", "")
        if not (0 < len(request_id) <= 64 and request_id.replace("-", "").isalnum()):
            request_id = "req_" + secrets.token_hex(8)
        request.state.request_id = request_id
        request.state.locale = pick_locale(request)
        csrf = request.cookies.get(CSRF_COOKIE)
        if not csrf or len(csrf) != 43:
            csrf = secrets.token_urlsafe(32)
            request.state.new_csrf = True
        request.state.csrf_token = csrf
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        runtime = request.app.state.runtime
        secure = bool(runtime.settings.cookie_secure)
        if _sets_session(response):  # signed in or out: a token seen before the login is worth nothing now
            csrf = secrets.token_urlsafe(32)
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=secure, path="/")
        elif getattr(request.state, "new_csrf", False):
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=secure, path="/")
        headers = response.headers
        headers["X-Request-Id"] = request_id
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", _CSP)
        if secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if "cache-control" not in headers and request.url.path.startswith(("/api", "/account", "/operator")):
            headers["Cache-Control"] = "no-store"
        return response


def _sets_session(response: Response) -> bool:
    """Tell whether the response sets or clears the session cookie (a login or a logout)."""
    return any(value.startswith(f"{SESSION_COOKIE}=") for value in response.headers.getlist("set-cookie"))


def pick_locale(request: Request) -> str:
    """Choose zh-CN or en from the `lang` query, the locale cookie, then the default."""
    wanted = request.query_params.get("lang") or request.cookies.get(LOCALE_COOKIE)
    if wanted in ("en", "zh-CN"):
        return wanted
    default: str = request.app.state.runtime.settings.default_locale
    return default


async def csrf_protect(request: Request) -> None:
    """Refuse unsafe requests that ride on cookies without the matching CSRF token.

    A request is exempt when it carries no cookie-based credentials and is not a browser form:
    API clients authenticate with bearer keys, which a foreign page cannot send.
    """
    if request.method not in _UNSAFE:
        return
    ctype = request.headers.get("content-type", "")
    is_form = ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    has_cookie = SESSION_COOKIE in request.cookies
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    if not has_cookie and (bearer or not is_form):
        return
    if request.url.path.startswith("/sandbox/"):
        return
    expected = request.cookies.get(CSRF_COOKIE, "")
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied and is_form:
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        supplied = value if isinstance(value, str) else ""
    if not expected or not supplied or not hmac.compare_digest(expected, supplied):
        raise CsrfFailed()
