"""The sandbox identity provider: a real HTTP service with deterministic, documented answers.

Mounted at `/sandbox/identity` when `QIANSHU_SANDBOX` is on (the platform's adapter reaches it
over HTTP like any provider), or run alone (`create_sandbox_app`, `qianshu identity sandbox`).
It checks the HMAC signature of every request and answers by the ID number's sequence code
(characters 15-17, GB 11643-1999 §5.3), so tests and demos can pick an outcome:

| sequence code | answer |
|---|---|
| 990 | `no_record`: no such person on record |
| 991 | `mismatch` of name and ID number |
| 992 | `mismatch`: the phone number is not registered to this person (three and four elements) |
| 993 | `mismatch`: the bank card is not this person's (four elements) |
| 994 | face check: similarity score 35 (below any sensible threshold) |
| 996 | HTTP 503 for one minute (sandbox clock) from the first request for that ID number, then normal |
| 997 | no answer (stalls past the client's time-out) for one minute from the first request, then normal |
| 998 | always HTTP 503 |
| 999 | always stalls past the client's time-out |
| anything else | `match` (face score 96.5) |

An ID number whose check character is wrong gets `no_record`, as a real registry would answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from qianshu.core.clock import Clock
from qianshu.core.errors import NotFound
from qianshu.core.ids import new_id
from qianshu.identity import request_signing
from qianshu.identity.validators import iso7064_mod11_2_check
from qianshu.vault.masking import mask_id_number

__all__ = ["RULES", "SandboxCall", "SandboxIdentityProvider", "create_sandbox_app", "router"]

PREFIX = "/sandbox/identity"
MATCH_SCORE = 96.5
LOW_SCORE = 35.0
OUTAGE = timedelta(minutes=1)
RULES: dict[str, str] = {
    "990": "no_record",
    "991": "mismatch_name",
    "992": "mismatch_phone",
    "993": "mismatch_bank_card",
    "994": "face_low_score",
    "996": "error_window",
    "997": "timeout_window",
    "998": "error",
    "999": "timeout",
}
_CHECKS = ("two_elements", "three_elements", "four_elements")
_MAX_CALLS = 200


@dataclass(frozen=True)
class SandboxCall:
    """One request the sandbox answered (ID number masked), for its inspection page and tests."""

    at: datetime
    endpoint: str
    check: str
    reference: str
    id_number_masked: str
    answer: str


class SandboxIdentityProvider:
    """The sandbox's state: shared secret, clock, replay guard, first-request counters, call log."""

    def __init__(self, *, secret: bytes, clock: Clock, delay_seconds: float = 15.0) -> None:
        self.secret = secret
        self.clock = clock
        self.delay_seconds = delay_seconds
        self.nonces = request_signing.NonceCache()
        self.calls: deque[SandboxCall] = deque(maxlen=_MAX_CALLS)
        self._first_seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def authenticate(self, request: Request, body: bytes) -> str | None:
        """Return why the request's signature is refused, or None."""
        return request_signing.verify(
            self.secret,
            method=request.method,
            path=request.url.path,
            body=body,
            headers=request.headers,
            now=self.clock.now(),
            nonces=self.nonces,
        )

    def behaviour(self, endpoint: str, id_number: str) -> str:
        """Return the rule for this ID number (outage windows start at its first request per endpoint)."""
        rule = RULES.get(id_number[14:17], "normal") if len(id_number) == 18 else "normal"
        if rule in ("error_window", "timeout_window"):
            now = self.clock.now()
            with self._lock:
                first = self._first_seen.setdefault(f"{endpoint}:{id_number}", now)
            return rule.removesuffix("_window") if now - first < OUTAGE else "normal"
        return rule

    def log(self, *, endpoint: str, check: str, reference: str, id_number: str, answer: str) -> None:
        """Remember a call for the inspection page."""
        self.calls.append(
            SandboxCall(
                at=self.clock.now(),
                endpoint=endpoint,
                check=check,
                reference=reference[:64],
                id_number_masked=mask_id_number(id_number),
                answer=answer,
            )
        )

    def count(self, reference: str | None = None) -> int:
        """Return how many requests were answered (for `reference` only, when given)."""
        return sum(1 for c in list(self.calls) if reference is None or c.reference == reference)


def _registry_has(id_number: str) -> bool:
    return (
        len(id_number) == 18
        and id_number[:17].isdigit()
        and iso7064_mod11_2_check(id_number[:17]) == id_number[17]
    )


def _sandbox(request: Request) -> SandboxIdentityProvider:
    own = getattr(request.app.state, "identity_sandbox", None)
    if isinstance(own, SandboxIdentityProvider):
        return own
    runtime = request.app.state.runtime
    if not runtime.settings.sandbox:
        raise NotFound()
    return runtime.component(  # type: ignore[no-any-return]  # Runtime.component is generic
        "identity.sandbox",
        lambda rt: SandboxIdentityProvider(
            secret=rt.settings.identity_hmac_secret.get_secret_value().encode(),
            clock=rt.clock,
            delay_seconds=rt.settings.identity_sandbox_delay_seconds,
        ),
    )


def _problem(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def _misbehave(sandbox: SandboxIdentityProvider, rule: str) -> Response | None:
    if rule == "error":
        return _problem(503, "unavailable", "sandbox: simulated outage")
    if rule == "timeout":
        await asyncio.sleep(sandbox.delay_seconds)
        return _problem(504, "timeout", "sandbox: simulated time-out")
    return None


router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.post("/v1/elements")
async def check_elements(request: Request) -> Response:
    """Answer a 2/3/4-element check by the rules above."""
    sandbox = _sandbox(request)
    body = await request.body()
    refused = sandbox.authenticate(request, body)
    if refused:
        return _problem(401, "unauthorized", refused)
    try:
        data = json.loads(body)
    except ValueError:
        return _problem(422, "bad_request", "body is not JSON")
    fields = ("reference", "check", "name", "id_number")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in fields):
        return _problem(422, "bad_request", "reference, check, name and id_number are required strings")
    check, id_number = data["check"], data["id_number"]
    if check not in _CHECKS:
        return _problem(422, "bad_request", "unknown check")
    if check != "two_elements" and not isinstance(data.get("phone"), str):
        return _problem(422, "bad_request", "phone is required")
    if check == "four_elements" and not isinstance(data.get("bank_card"), str):
        return _problem(422, "bad_request", "bank_card is required")
    rule = sandbox.behaviour("elements", id_number)
    sandbox.log(
        endpoint="elements", check=check, reference=data["reference"], id_number=id_number, answer=rule
    )
    failure = await _misbehave(sandbox, rule)
    if failure is not None:
        return failure
    answer: dict[str, Any] = {"request_id": new_id("sbx"), "result": "match", "mismatched": []}
    if not _registry_has(id_number) or rule == "no_record":
        answer["result"] = "no_record"
    elif rule == "mismatch_name":
        answer.update(result="mismatch", mismatched=["name"])
    elif rule == "mismatch_phone" and check != "two_elements":
        answer.update(result="mismatch", mismatched=["phone"])
    elif rule == "mismatch_bank_card" and check == "four_elements":
        answer.update(result="mismatch", mismatched=["bank_card"])
    return JSONResponse(answer)


@router.post("/v1/face")
async def match_face(request: Request) -> Response:
    """Answer a face check (multipart: reference, name, id_number, image) with a score."""
    sandbox = _sandbox(request)
    body = await request.body()
    refused = sandbox.authenticate(request, body)
    if refused:
        return _problem(401, "unauthorized", refused)
    try:
        form = await request.form()
    except Exception:  # any parse failure is the client's malformed body
        return _problem(422, "bad_request", "body is not multipart/form-data")
    fields = {k: form.get(k) for k in ("reference", "name", "id_number")}
    image = form.get("image")
    if not all(isinstance(v, str) for v in fields.values()) or image is None or isinstance(image, str):
        return _problem(422, "bad_request", "reference, name, id_number and an image file are required")
    data = await image.read()
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        return _problem(422, "bad_image", "the image is not JPEG or PNG")
    id_number, reference = str(fields["id_number"]), str(fields["reference"])
    rule = sandbox.behaviour("face", id_number)
    sandbox.log(endpoint="face", check="face", reference=reference, id_number=id_number, answer=rule)
    failure = await _misbehave(sandbox, rule)
    if failure is not None:
        return failure
    answer: dict[str, Any] = {"request_id": new_id("sbx"), "result": "match", "score": MATCH_SCORE}
    if not _registry_has(id_number) or rule == "no_record":
        answer.update(result="no_record", score=None)
    elif rule == "mismatch_name":
        answer.update(result="mismatch", mismatched=["name"], score=None)
    elif rule == "face_low_score":
        answer.update(result="mismatch", mismatched=["face"], score=LOW_SCORE)
    return JSONResponse(answer)


@router.get("", response_class=HTMLResponse)
def sandbox_page(request: Request) -> Response:
    """Show the sandbox's rules and the requests it answered (ID numbers masked)."""
    sandbox = _sandbox(request)
    calls = list(reversed(sandbox.calls))
    if not hasattr(request.app.state, "runtime"):
        return JSONResponse({"rules": RULES, "calls": [c.__dict__ | {"at": c.at.isoformat()} for c in calls]})
    from qianshu.web.render import render

    return render(request, "identity/sandbox.html", {"rules": RULES, "calls": calls})


def create_sandbox_app(*, secret: bytes, clock: Clock, delay_seconds: float = 15.0) -> FastAPI:
    """Build the sandbox provider as its own app (tests run it under uvicorn on a free port)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.identity_sandbox = SandboxIdentityProvider(
        secret=secret, clock=clock, delay_seconds=delay_seconds
    )
    app.include_router(router)
    return app
