"""HMAC-SHA256 request signatures between Qianshu and an identity provider (and the sandbox).

Each request carries three headers:
  X-Qianshu-Timestamp: Unix seconds; X-Qianshu-Nonce: 32 hex characters;
  X-Qianshu-Signature: "v1=" + hex HMAC-SHA256 (RFC 2104, FIPS 180-4) under the shared secret of
  "v1\\n<timestamp>\\n<nonce>\\n<METHOD>\\n<path>\\n<hex SHA-256 of the body>".
The receiver refuses a timestamp more than five minutes off and a nonce it saw within ten.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta

from qianshu.core.security import equal_secrets

TIMESTAMP_HEADER = "X-Qianshu-Timestamp"
NONCE_HEADER = "X-Qianshu-Nonce"
SIGNATURE_HEADER = "X-Qianshu-Signature"
WINDOW = timedelta(minutes=5)
_NONCE_TTL = timedelta(minutes=10)


def canonical(*, method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """Return the bytes that are signed."""
    digest = hashlib.sha256(body).hexdigest()
    return f"v1\n{timestamp}\n{nonce}\n{method.upper()}\n{path}\n{digest}".encode()


def sign(secret: bytes, *, method: str, path: str, body: bytes, now: datetime) -> dict[str, str]:
    """Return the three signature headers for a request."""
    timestamp = int(now.timestamp())
    nonce = secrets.token_hex(16)
    mac = hmac.new(
        secret,
        canonical(method=method, path=path, timestamp=timestamp, nonce=nonce, body=body),
        hashlib.sha256,
    ).hexdigest()
    return {TIMESTAMP_HEADER: str(timestamp), NONCE_HEADER: nonce, SIGNATURE_HEADER: f"v1={mac}"}


class NonceCache:
    """Nonces seen recently (the receiver's replay guard)."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def add(self, nonce: str, now: datetime) -> bool:
        """Remember `nonce`; return False when it was seen within the last ten minutes."""
        with self._lock:
            for old in [n for n, at in self._seen.items() if now - at > _NONCE_TTL]:
                del self._seen[old]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def verify(
    secret: bytes,
    *,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    nonces: NonceCache,
) -> str | None:
    """Check a request's signature; return None when good, else the reason it is refused."""
    stamp, nonce, given = (headers.get(h, "") for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
    if not stamp.isdigit() or len(nonce) != 32 or not given.startswith("v1="):
        return "missing or malformed signature headers"
    timestamp = int(stamp)
    if abs(now.timestamp() - timestamp) > WINDOW.total_seconds():
        return "timestamp outside the allowed window"
    expected = hmac.new(
        secret,
        canonical(method=method, path=path, timestamp=timestamp, nonce=nonce, body=body),
        hashlib.sha256,
    ).hexdigest()
    if not equal_secrets(expected, given[3:]):
        return "bad signature"
    if not nonces.add(nonce, now):
        return "nonce replayed"
    return None
