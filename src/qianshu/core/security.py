"""Security headers, request ids, locale and CSRF protection for cookie-authenticated forms."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from qianshu.core.asgi import HttpMiddleware
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


def equal_secrets(expected: str, given: str) -> bool:
    """Compare a secret with what a request supplied, in constant time, whatever characters it holds.

    `hmac.compare_digest` raises TypeError on a str with non-ASCII characters, which a header (read
    as Latin-1), a cookie or a JSON body can carry; both sides are compared as UTF-8 bytes instead.
    """
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


class SecurityMiddleware(HttpMiddleware):
    """Attach a request id, pick the locale, issue (and at login rotate) the CSRF cookie, set security headers."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set up the request's id, locale and CSRF token; add the headers and cookies to its answer."""
        import structlog

        request = Request(scope)  # its state lives in the scope, shared with the app's own Request
        request_id = request.headers.get("x-request-id", "")
        if not (0 < len(request_id) <= 64 and request_id.replace("-", "").isalnum()):
            request_id = "req_" + secrets.token_hex(8)
        request.state.request_id = request_id
        request.state.locale = pick_locale(request)
        csrf = request.cookies.get(CSRF_COOKIE)
        new_csrf = not csrf or len(csrf) != 43
        if new_csrf:
            csrf = secrets.token_urlsafe(32)
            request.state.new_csrf = True
        request.state.csrf_token = csrf
        secure = bool(request.app.state.runtime.settings.cookie_secure)
        no_store = request.url.path.startswith(("/api", "/account", "/operator"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if _sets_session(headers):  # signed in or out: a token seen before the login is worth nothing now
                    headers.append("set-cookie", _csrf_cookie(secrets.token_urlsafe(32), secure))
                elif new_csrf:
                    headers.append("set-cookie", _csrf_cookie(str(csrf), secure))
                headers["X-Request-Id"] = request_id
                for name, value in _HEADERS:
                    headers.setdefault(name, value)
                if secure:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
                if no_store and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Content-Security-Policy", _CSP),
)


def _csrf_cookie(value: str, secure: bool) -> str:
    """Return the Set-Cookie value of the CSRF cookie (HttpOnly, SameSite=Lax, whole site)."""
    carrier = Response()
    carrier.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="lax", secure=secure, path="/")
    return carrier.headers["set-cookie"]


def _sets_session(headers: MutableHeaders) -> bool:
    """Tell whether the response sets or clears the session cookie (a login or a logout)."""
    return any(value.startswith(f"{SESSION_COOKIE}=") for value in headers.getlist("set-cookie"))


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
    if not expected or not supplied or not equal_secrets(expected, supplied):
        raise CsrfFailed()
