"""Identity providers: the checks we ask of them, and the HTTP adapter that asks.

`IdentityChecker` runs the 2/3/4-element checks, `FaceMatcher` compares a photo with the ID record.
`HttpIdentityChecker` and `HttpFaceMatcher` speak the provider protocol of docs/identity.md over
HTTP: HMAC-signed requests (`request_signing`), a time-out per request, retries with doubling
back-off for time-outs, connection errors, 429 and 5xx, and a circuit breaker. With
`QIANSHU_IDENTITY_BACKEND=sandbox` they talk to the sandbox provider mounted at
`/sandbox/identity` (identity/sandbox.py); `http` points them at a real provider's gateway.
An adapter never decides that someone is verified: it returns what the provider said, or raises
`ProviderUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit

import httpx

from qianshu.core.clock import Clock
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.identity import request_signing
from qianshu.identity.breaker import CircuitBreaker
from qianshu.identity.errors import ProviderUnavailable

__all__ = [
    "CheckOutcome",
    "ElementCheck",
    "FaceCheck",
    "FaceMatcher",
    "HttpFaceMatcher",
    "HttpIdentityChecker",
    "HttpProviderClient",
    "IdentityChecker",
    "ProviderUnavailable",
    "circuit_breaker",
    "face_matcher",
    "identity_checker",
    "provider_recipient",
]

log = get_logger("qianshu.identity.providers")

Result = Literal["match", "mismatch", "no_record"]
_RESULTS = ("match", "mismatch", "no_record")
SANDBOX_RECIPIENT = "签署沙箱实名核验服务 (Qianshu sandbox identity provider)"


@dataclass(frozen=True)
class ElementCheck:
    """A 2/3/4-element check: the fields a level needs, and our reference (the verification id)."""

    level: Literal["two_elements", "three_elements", "four_elements"]
    reference: str
    name: str
    id_number: str
    phone: str | None = None
    bank_card: str | None = None


@dataclass(frozen=True)
class FaceCheck:
    """A face check: a live photo to compare with the ID record of name + ID number."""

    reference: str
    name: str
    id_number: str
    image: bytes = field(repr=False)
    content_type: str = "image/jpeg"


@dataclass(frozen=True)
class CheckOutcome:
    """What the provider answered: match, mismatch (which elements) or no record; a face score 0-100."""

    result: Result
    mismatched: tuple[str, ...] = ()
    score: float | None = None
    provider_ref: str | None = None


@runtime_checkable
class IdentityChecker(Protocol):
    """Checks name, ID number and optionally phone and bank card against authoritative records."""

    recipient: str

    def check_elements(self, check: ElementCheck) -> CheckOutcome:
        """Return the provider's answer, or raise ProviderUnavailable."""
        ...


@runtime_checkable
class FaceMatcher(Protocol):
    """Compares a photo with the portrait on record for a name and ID number."""

    recipient: str

    def match_face(self, check: FaceCheck) -> CheckOutcome:
        """Return the provider's answer with a similarity score, or raise ProviderUnavailable."""
        ...


class HttpProviderClient:
    """Signed JSON/multipart POSTs with time-outs, retries, back-off and a circuit breaker."""

    def __init__(
        self,
        *,
        base_url: str,
        secret: bytes,
        clock: Clock,
        breaker: CircuitBreaker,
        timeout: float = 4.0,
        retries: int = 1,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._clock = clock
        self.breaker = breaker
        self._retries = max(0, retries)
        self._backoff = max(0.0, backoff)
        self._sleep = sleep
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def post(
        self,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """POST to `base_url + path`; return the JSON object answered, or raise ProviderUnavailable."""
        if not self.breaker.allow():
            raise ProviderUnavailable("breaker_open", sent=False)
        url = self.base_url + path
        sent, reason = False, "connection"
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            request = self._client.build_request("POST", url, json=json_body, data=form, files=files)
            body = request.read()
            request.headers.update(
                request_signing.sign(
                    self._secret, method="POST", path=urlsplit(url).path, body=body, now=self._clock.now()
                )
            )
            try:
                response = self._client.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                reason = "connection"
                continue
            except httpx.TimeoutException:
                sent, reason = True, "timeout"
                continue
            except httpx.HTTPError:
                sent, reason = True, "connection"
                continue
            sent = True
            if response.status_code == 429 or response.status_code >= 500:
                reason = "http_error"
                continue
            if response.status_code != 200:
                reason = "rejected"  # our request or credentials are wrong: retrying will not help
                break
            try:
                data = response.json()
            except ValueError:
                reason = "bad_response"
                break
            if not isinstance(data, dict):
                reason = "bad_response"
                break
            self.breaker.record_success()
            return data
        self.breaker.record_failure()
        log.warning("identity_provider_failed", reason=reason, path=path, breaker=self.breaker.state)
        raise ProviderUnavailable(reason, sent=sent)


def _outcome(data: dict[str, Any], *, with_score: bool) -> CheckOutcome:
    result = data.get("result")
    mismatched = data.get("mismatched") or []
    score = data.get("score")
    ref = data.get("request_id")
    ok = (
        result in _RESULTS
        and isinstance(mismatched, list)
        and all(isinstance(m, str) for m in mismatched)
        and (ref is None or isinstance(ref, str))
        and (not with_score or result != "match" or isinstance(score, int | float))
        and (score is None or isinstance(score, int | float))
    )
    if not ok:
        raise ProviderUnavailable("bad_response", sent=True)
    return CheckOutcome(
        result=cast(Result, result),
        mismatched=tuple(str(m)[:32] for m in mismatched[:8]),
        score=float(score) if score is not None else None,
        provider_ref=ref[:64] if isinstance(ref, str) else None,
    )


class HttpIdentityChecker:
    """`IdentityChecker` over HTTP: POST <base>/v1/elements with a JSON body."""

    def __init__(self, client: HttpProviderClient, *, recipient: str) -> None:
        self._client = client
        self.recipient = recipient

    def check_elements(self, check: ElementCheck) -> CheckOutcome:
        """Send the elements of `check.level` and return the provider's answer."""
        body: dict[str, Any] = {
            "reference": check.reference,
            "check": check.level,
            "name": check.name,
            "id_number": check.id_number,
        }
        if check.level in ("three_elements", "four_elements"):
            body["phone"] = check.phone
        if check.level == "four_elements":
            body["bank_card"] = check.bank_card
        return _outcome(self._client.post("/v1/elements", json_body=body), with_score=False)


class HttpFaceMatcher:
    """`FaceMatcher` over HTTP: POST <base>/v1/face as multipart (the photo is a file part)."""

    def __init__(self, client: HttpProviderClient, *, recipient: str) -> None:
        self._client = client
        self.recipient = recipient

    def match_face(self, check: FaceCheck) -> CheckOutcome:
        """Send the photo with name and ID number and return the provider's answer and score."""
        ext = "png" if check.content_type == "image/png" else "jpg"
        data = self._client.post(
            "/v1/face",
            form={"reference": check.reference, "name": check.name, "id_number": check.id_number},
            files={"image": (f"face.{ext}", check.image, check.content_type)},
        )
        return _outcome(data, with_score=True)


# --- wiring ---------------------------------------------------------------------------------


def provider_recipient(runtime: Runtime) -> str:
    """Return the provider's name as the sharing register shows it."""
    settings = runtime.settings
    if settings.identity_provider_name:
        return settings.identity_provider_name
    if settings.identity_backend == "sandbox":
        return SANDBOX_RECIPIENT
    return urlsplit(settings.effective_identity_url).netloc or "identity provider"


def circuit_breaker(runtime: Runtime) -> CircuitBreaker:
    """Return the process's breaker for the identity provider."""

    def build(rt: Runtime) -> CircuitBreaker:
        return CircuitBreaker(
            clock=rt.clock,
            threshold=rt.settings.identity_breaker_failures,
            reset_seconds=rt.settings.identity_breaker_reset_seconds,
        )

    return runtime.component("identity.breaker", build)


def _client(runtime: Runtime) -> HttpProviderClient:
    def build(rt: Runtime) -> HttpProviderClient:
        settings = rt.settings
        if settings.identity_backend not in ("sandbox", "http"):
            raise ValueError(f"unknown identity backend {settings.identity_backend!r}")
        if settings.identity_backend == "http" and not settings.identity_url:
            raise ValueError("QIANSHU_IDENTITY_URL is required with QIANSHU_IDENTITY_BACKEND=http")
        client = HttpProviderClient(
            base_url=settings.effective_identity_url,
            secret=settings.identity_hmac_secret.get_secret_value().encode(),
            clock=rt.clock,
            breaker=circuit_breaker(rt),
            timeout=settings.identity_timeout_seconds,
            retries=settings.identity_retries,
            backoff=settings.identity_retry_backoff_seconds,
        )
        rt.on_close(client.close)
        return client

    return runtime.component("identity.http_client", build)


def identity_checker(runtime: Runtime) -> IdentityChecker:
    """Return the configured element checker (tests may swap it with `runtime.set_component`)."""
    return runtime.component(
        "identity.checker", lambda rt: HttpIdentityChecker(_client(rt), recipient=provider_recipient(rt))
    )


def face_matcher(runtime: Runtime) -> FaceMatcher:
    """Return the configured face matcher."""
    return runtime.component(
        "identity.face_matcher", lambda rt: HttpFaceMatcher(_client(rt), recipient=provider_recipient(rt))
    )
