"""The FastAPI application factory: middleware, error handling and every domain's routers."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import qianshu
from qianshu.core.errors import (
    BadRequest,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QianshuError,
    ServerBusy,
    dependency_unavailable,
)
from qianshu.core.logging import get_logger
from qianshu.core.openapi import PROBLEM_JSON, document_problems, document_security
from qianshu.core.runtime import Runtime
from qianshu.core.security import SecurityMiddleware, csrf_protect

log = get_logger("qianshu.app")


def domain_modules(name: str) -> list[Any]:
    """Import `qianshu.<domain>.<name>` for every domain that has one, in name order."""
    found = []
    for mod in sorted(pkgutil.iter_modules(qianshu.__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        full = f"qianshu.{mod.name}.{name}"
        try:
            found.append(importlib.import_module(full))
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    return found


class BodyLimitMiddleware:
    """Refuse bodies over the configured limits with 413, counting bytes as they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        limit = self.max_json_bytes if "json" in ctype else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(scope, send, _too_large(limit))
            return
        seen, exceeded, replaced = 0, False, False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _too_large(limit)
            return message

        async def guarded_send(message: Message) -> None:
            # A body parser may turn the refusal into its own 400 (FastAPI does for JSON): answer 413.
            nonlocal replaced
            if message["type"] == "http.response.start" and exceeded and message["status"] != 413:
                replaced = True
                await _send_problem(scope, send, _too_large(limit))
                return
            if replaced:
                return  # the body of the response we replaced
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


class InFlightLimitMiddleware:
    """Answer 503 `server-busy` (Retry-After: 1) at once when `limit` requests are already in flight.

    Past its capacity a process only queues work: every request waits longer, clients time out and
    retry, and the requests they gave up on are still worked through, so throughput collapses
    (bench/api_load.py). Refusing the excess at once bounds the queue, so the accepted requests
    finish instead of timing out, and tells the rest to come back. Health, readiness, metrics and
    static files are never refused.
    """

    EXEMPT = ("/healthz", "/readyz", "/metrics", "/static/")

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or str(scope.get("path", "")).startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await _send_problem(scope, send, ServerBusy())
            return
        self.in_flight += 1  # one event loop per process: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _too_large(limit: int) -> PayloadTooLarge:
    mb = limit / (1024 * 1024)
    return PayloadTooLarge(f"请求体超过 {mb:g} MB 的上限", detail_en=f"The request body exceeds the {mb:g} MB limit")


async def _send_problem(scope: Scope, send: Send, error: QianshuError) -> None:
    import json

    body = json.dumps(error.to_problem(instance=scope.get("path")), ensure_ascii=False).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    retry = getattr(error, "retry_after", None)
    if retry:
        headers.append((b"retry-after", str(retry).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/sandbox/", "/pki/", "/log/", "/tsa")):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(request: Request, error: QianshuError) -> Response:
    """Render `error` as problem+json, or as an error page for a browser."""
    locale = getattr(request.state, "locale", "zh-CN")
    headers = {}
    retry = getattr(error, "retry_after", None)
    if retry:
        headers["Retry-After"] = str(retry)
    if _wants_html(request):
        from qianshu.web.render import render_error

        return render_error(request, error, headers=headers)
    return JSONResponse(
        error.to_problem(locale=locale, instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _install_error_handlers(app: FastAPI) -> None:
    from fastapi.responses import RedirectResponse

    from qianshu.core.auth import RedirectTo

    @app.exception_handler(RedirectTo)
    async def _redirect(request: Request, exc: RedirectTo) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(QianshuError)
    async def _qianshu(request: Request, exc: QianshuError) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                request, BadRequest("请求体不是合法的 JSON", detail_en="The body is not valid JSON")
            )
        fields = "、".join(e["loc"][-1] for e in errors if e["loc"]) or "?"
        err = InvalidInput(f"以下字段有误：{fields}", detail_en=f"Invalid fields: {fields}", errors=errors)
        return problem_response(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return problem_response(request, NotFound())
        if exc.status_code == 405:
            err: QianshuError = BadRequest("不支持该请求方法", detail_en="Method not allowed")
            err.status = 405  # type: ignore[misc]  # instance override of the class status
            return problem_response(request, err)
        err = BadRequest(str(exc.detail), detail_en=str(exc.detail))
        err.status = exc.status_code  # type: ignore[misc]  # instance override of the class status
        return problem_response(request, err)

    async def _dependency_down(request: Request, exc: Exception) -> Response:
        return _unavailable_or_500(request, exc)

    # Database and Redis errors: a 503 problem for a lost connection (`dependency_unavailable`), a
    # logged 500 problem for the rest (a lock timeout is a failing request); never the outer middleware's.
    for kind in _connection_errors():
        app.add_exception_handler(kind, _dependency_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _unavailable_or_500(request, exc)


def _unavailable_or_500(request: Request, exc: Exception) -> Response:
    """A lost database/Redis connection is a 503 to retry; anything else an opaque 500."""
    down = dependency_unavailable(exc)
    if down is not None:
        log.warning("dependency_unavailable", error_type=type(exc).__name__, path=request.url.path)
        return problem_response(request, down)
    log.error("unhandled_exception", error_type=type(exc).__name__, path=request.url.path)
    err = QianshuError("服务器内部错误，请稍后重试", detail_en="Internal server error")
    err.status = 500  # type: ignore[misc]  # instance override of the class status
    return problem_response(request, err)


def _connection_errors() -> list[type[Exception]]:
    from sqlalchemy.exc import InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    kinds: list[type[Exception]] = [OperationalError, InterfaceError, PoolTimeout]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # the redis extra is not installed
        return kinds
    return [*kinds, RedisConnectionError, RedisTimeoutError]


def create_app(runtime: Runtime, *, start_background: bool = True) -> FastAPI:
    """Build the app around `runtime`; background workers start with the app's lifespan."""
    from qianshu import bootstrap

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_background:
            bootstrap.start_background(runtime)
        yield
        bootstrap.stop_background(runtime)

    app = FastAPI(
        title="Qianshu API",
        version=qianshu.__version__,
        lifespan=lifespan,
        docs_url=None,  # /api/docs is web/pages.py's: Swagger UI from this origin, not a CDN the CSP refuses
        openapi_url="/api/openapi.json",
        redoc_url=None,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.runtime = runtime
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_security(document_problems(generate()), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    _install_error_handlers(app)
    # Inside SecurityMiddleware, so a 503 server-busy carries the same security headers as any answer.
    app.add_middleware(InFlightLimitMiddleware, limit=runtime.settings.max_requests_in_flight)
    app.add_middleware(SecurityMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=runtime.settings.max_upload_bytes + 64 * 1024,
        max_json_bytes=runtime.settings.max_json_bytes,
    )
    from qianshu.ops.metrics import MetricsMiddleware  # outermost: times every request, 413s and 503s included

    app.add_middleware(MetricsMiddleware)
    static = Path(__file__).parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    for module in domain_modules("api") + domain_modules("pages"):
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    return app
