"""The multi-step form cookie: which phone or e-mail a code was just sent to, sealed and short-lived.

Pages post step 1 (send a code), redirect, and show step 2 (enter the code). The contact never
travels in a URL; it rides in this HttpOnly cookie, sealed with AES-256-GCM (NIST SP 800-38D)
under a key from the secrets folder, with the purpose and an expiry inside the sealed part.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Response

from qianshu.accounts.keys import flow_key
from qianshu.core.runtime import Runtime

FLOW_COOKIE = "qs_flow"
_AAD = b"qianshu.accounts.flow.v1"


@dataclass(frozen=True)
class Flow:
    """A started multi-step form: its purpose, the contact kind and value, and where to go after."""

    purpose: str
    kind: str
    value: str
    next: str = ""


def seal(runtime: Runtime, flow: Flow, *, now: datetime) -> str:
    """Return the cookie value holding `flow`, valid for the code's lifetime."""
    expires = int(now.timestamp()) + runtime.settings.otp_ttl_seconds
    body = json.dumps({"p": flow.purpose, "k": flow.kind, "v": flow.value, "n": flow.next, "e": expires})
    nonce = os.urandom(12)
    sealed = AESGCM(flow_key(runtime)).encrypt(nonce, body.encode(), _AAD)
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def open_flow(runtime: Runtime, raw: str | None, *, purpose: str, now: datetime) -> Flow | None:
    """Return the flow in the cookie when it is intact, unexpired and for `purpose`."""
    if not raw or len(raw) > 2048:
        return None
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        body = json.loads(AESGCM(flow_key(runtime)).decrypt(blob[:12], blob[12:], _AAD))
    except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if (
        not isinstance(body, dict)
        or body.get("p") != purpose
        or int(body.get("e", 0)) <= int(now.timestamp())
    ):
        return None
    return Flow(
        purpose=str(body["p"]), kind=str(body["k"]), value=str(body["v"]), next=str(body.get("n", ""))
    )


def set_cookie(response: Response, runtime: Runtime, flow: Flow, *, now: datetime) -> None:
    """Attach the sealed flow cookie (HttpOnly, SameSite=Lax, Secure on HTTPS)."""
    response.set_cookie(
        FLOW_COOKIE,
        seal(runtime, flow, now=now),
        max_age=runtime.settings.otp_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=bool(runtime.settings.cookie_secure),
        path="/",
    )


def clear_cookie(response: Response, runtime: Runtime) -> None:
    """Remove the flow cookie."""
    response.delete_cookie(
        FLOW_COOKIE, httponly=True, samesite="lax", secure=bool(runtime.settings.cookie_secure), path="/"
    )
