"""The sandbox SMS provider: a real HTTP service that plays the outside SMS gateway.

It accepts what `HttpSmsSender` sends (`POST /sandbox/sms`, HMAC-signed JSON), refuses bad or
stale signatures with 401, and keeps the newest messages in a bounded in-memory inbox that the
sandbox page, the tests and demo users read (`GET /sandbox/sms/messages?phone=…`). The inbox lives
in the provider's process, as a real provider's would. The router is mounted on the platform when
`QIANSHU_SANDBOX` is on; `qianshu sandbox --port 8025` runs it alone (`create_sandbox_app`).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from qianshu.config import Settings
from qianshu.core.clock import Clock, SystemClock
from qianshu.core.errors import NotFound, QianshuError, ServiceUnavailable
from qianshu.core.ids import new_id
from qianshu.core.request_signing import read_json_body
from qianshu.core.runtime import Runtime
from qianshu.notify.providers import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request
from qianshu.notify.schemas import SandboxAccepted, SandboxInbox, SandboxSmsIn, SandboxSmsRead

PREFIX = "/sandbox/sms"
INBOX_SIZE = 500
_SEPARATORS = re.compile(r"[\s\-()]")


@dataclass(frozen=True)
class _Received:
    id: str
    message_id: str
    to: str
    text: str
    received_at: datetime


def canonical_phone(value: str) -> str:
    """Return a phone number without separators or a +86/0086/86 prefix on an 11-digit number."""
    digits = _SEPARATORS.sub("", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


class SandboxSmsProvider:
    """The fake gateway's state: its secret, its clock and a bounded inbox (newest kept)."""

    def __init__(self, *, secret: bytes, clock: Clock, max_skew_seconds: int = 300, capacity: int = INBOX_SIZE) -> None:
        self._secret = secret
        self._clock = clock
        self._max_skew = max_skew_seconds
        self._inbox: deque[_Received] = deque(maxlen=capacity)
        self._by_message: dict[str, str] = {}  # message_id -> our id, for the messages in the inbox
        self._lock = threading.Lock()

    def accept(self, *, body: bytes, timestamp: str | None, signature: str | None) -> SandboxAccepted:
        """Verify and store one message; a repeated `message_id` returns the first id (idempotent)."""
        verify_request(
            secret=self._secret,
            timestamp=timestamp,
            signature=signature,
            body=body,
            now=self._clock.now(),
            max_skew_seconds=self._max_skew,
        )
        data = read_json_body(SandboxSmsIn, body)
        with self._lock:
            seen = self._by_message.get(data.message_id)
            if seen is not None:
                return SandboxAccepted(id=seen)
            received = _Received(
                id=new_id("sbx"),
                message_id=data.message_id,
                to=canonical_phone(data.to),
                text=data.text,
                received_at=self._clock.now(),
            )
            if len(self._inbox) == self._inbox.maxlen:  # the oldest drops out of the inbox
                self._by_message.pop(self._inbox[0].message_id, None)
            self._inbox.append(received)
            self._by_message[received.message_id] = received.id
        return SandboxAccepted(id=received.id)

    def messages(self, *, phone: str | None = None, limit: int = INBOX_SIZE) -> list[SandboxSmsRead]:
        """Return received messages, newest first, optionally only those to `phone`."""
        wanted = canonical_phone(phone) if phone else None
        with self._lock:
            items = list(self._inbox)
        found = [m for m in reversed(items) if wanted is None or m.to == wanted][:limit]
        return [SandboxSmsRead(**asdict(m)) for m in found]

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._inbox.clear()
            self._by_message.clear()


def _build_local(runtime: Runtime) -> SandboxSmsProvider:
    settings = runtime.settings
    return SandboxSmsProvider(
        secret=settings.sms_hmac_secret.get_secret_value().encode("utf-8"),
        clock=runtime.clock,
        max_skew_seconds=settings.sms_max_skew_seconds,
    )


def local_provider(runtime: Runtime) -> SandboxSmsProvider:
    """Return the sandbox provider mounted in this process (one per runtime)."""
    return runtime.component("notify.sms_sandbox", _build_local)


def _provider(request: Request) -> SandboxSmsProvider:
    own = getattr(request.app.state, "sms_sandbox", None)
    if isinstance(own, SandboxSmsProvider):  # the standalone sandbox app
        return own
    runtime = getattr(request.app.state, "runtime", None)
    if not isinstance(runtime, Runtime) or not runtime.settings.sandbox:
        raise NotFound()
    return local_provider(runtime)


Provider = Annotated[SandboxSmsProvider, Depends(_provider)]
router = APIRouter(prefix=PREFIX, tags=["sandbox"], include_in_schema=False)


@router.post("", status_code=202, response_model=SandboxAccepted)
async def receive_sms(request: Request, provider: Provider) -> SandboxAccepted:
    """Accept a signed text message, as an SMS gateway would."""
    body = await request.body()
    return provider.accept(
        body=body,
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        signature=request.headers.get(SIGNATURE_HEADER),
    )


@router.get("/messages", response_model=SandboxInbox)
def list_sms(
    provider: Provider,
    phone: Annotated[str | None, Query(max_length=24)] = None,
    limit: Annotated[int, Query(ge=1, le=INBOX_SIZE)] = 100,
) -> SandboxInbox:
    """List received messages, newest first (optionally to one phone number)."""
    return SandboxInbox(messages=provider.messages(phone=phone, limit=limit))


def is_local(settings: Settings) -> bool:
    """Tell whether SMS goes to the sandbox mounted on this very server."""
    return settings.effective_sms_url == f"{settings.public_base_url}{PREFIX}"


def read_inbox(*, runtime: Runtime, phone: str | None = None, limit: int = 100) -> list[SandboxSmsRead]:
    """Return the sandbox inbox the platform sends to: the mounted one, or a standalone one over HTTP."""
    settings = runtime.settings
    if settings.sms_backend != "sandbox" or is_local(settings):
        return local_provider(runtime).messages(phone=phone, limit=limit)
    params: dict[str, Any] = {"limit": limit}
    if phone:
        params["phone"] = phone
    try:
        response = httpx.get(
            settings.effective_sms_url + "/messages", params=params, timeout=settings.sms_timeout_seconds
        )
        response.raise_for_status()
        return SandboxInbox.model_validate_json(response.content).messages
    except (httpx.HTTPError, ValidationError) as exc:
        raise ServiceUnavailable(
            "无法读取沙盒短信服务的收件箱",
            detail_en=f"The sandbox SMS inbox is unreachable ({type(exc).__name__})",
        ) from None


def create_sandbox_app(*, settings: Settings, clock: Clock | None = None) -> FastAPI:
    """Build the standalone sandbox provider app (`qianshu sandbox`)."""
    app = FastAPI(title="Qianshu SMS sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sms_sandbox = SandboxSmsProvider(
        secret=settings.sms_hmac_secret.get_secret_value().encode("utf-8"),
        clock=clock or SystemClock(),
        max_skew_seconds=settings.sms_max_skew_seconds,
    )

    @app.exception_handler(QianshuError)
    async def _problem(request: Request, exc: QianshuError) -> JSONResponse:
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type="application/problem+json",
        )

    app.include_router(router)
    return app
