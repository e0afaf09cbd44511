"""The shape of our plain ASGI middleware: HTTP requests go to `handle`, anything else passes through."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Wrap `app`; subclasses implement `handle` for HTTP requests (lifespan and the rest pass through).

    Plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs the rest of the app in a task
    of its own with memory streams between them: a cost every request would pay.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request, calling `self.app` for the rest of the stack."""
        raise NotImplementedError
