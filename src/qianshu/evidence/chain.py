"""Hash-chained audit events: the canonical form and the hash every event carries.

An event's hash is lower-case hex SHA-256 (FIPS 180-4) over its canonical JSON: one object holding
every field in `HASHED_FIELDS`, keys sorted, no insignificant whitespace, UTF-8, non-ASCII characters
written as themselves. Event data may hold only strings, integers within ±(2^53 − 1), booleans, null,
lists and objects with string keys (no floats), and for those values this is the serialisation of
RFC 8785 (JCS) §3.2, except that keys are sorted by code point rather than UTF-16 code unit (the
same order unless keys mix characters above U+FFFF with U+E000–U+FFFF). Times are RFC 3339 UTC
with six fractional digits (`2026-01-05T02:00:00.000000Z`).

The first event of a stream carries `GENESIS_HASH` as its previous hash; every later one carries the
hash of the event before it and the next sequence number, so editing, deleting or reordering any
event breaks the chain from that point on.

This module imports neither FastAPI nor the database, so the offline verifier can use it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

# Every field the hash covers, in the order `canonical_event` lists them (the JSON is key-sorted).
HASHED_FIELDS = (
    "id",
    "stream",
    "seq",
    "actor",
    "action",
    "object_id",
    "data",
    "request_id",
    "network_log_id",
    "created_at",
    "prev_hash",
)


MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 §3.2.2.3 / I-JSON (RFC 7493 §2.2): exact in every reader


def check_plain_json(value: Any, *, depth: int = 0) -> None:
    """Raise ValueError unless `value` holds only the JSON types event data may carry."""
    if depth > 16:
        raise ValueError("event data is nested too deeply")
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError("integers in event data must be within ±(2**53 - 1)")
        return
    if isinstance(value, list):
        for item in value:
            check_plain_json(item, depth=depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("object keys in event data must be strings")
            check_plain_json(item, depth=depth + 1)
        return
    raise ValueError(f"event data cannot hold {type(value).__name__} values")


def canonical_json(value: Any) -> bytes:
    """Serialise `value` canonically: sorted keys, no whitespace, UTF-8, no NaN/Infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def format_time(value: datetime) -> str:
    """Return `value` as RFC 3339 UTC with microseconds (the form the hash covers)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_event(
    *,
    event_id: str,
    stream: str,
    seq: int,
    actor: str,
    action: str,
    object_id: str | None,
    data: dict[str, Any],
    request_id: str | None,
    network_log_id: str | None,
    created_at: datetime,
    prev_hash: str,
) -> bytes:
    """Return the canonical JSON bytes of one event (everything its hash covers)."""
    return canonical_json(
        {
            "id": event_id,
            "stream": stream,
            "seq": seq,
            "actor": actor,
            "action": action,
            "object_id": object_id,
            "data": data,
            "request_id": request_id,
            "network_log_id": network_log_id,
            "created_at": format_time(created_at),
            "prev_hash": prev_hash,
        }
    )


def event_hash(canonical: bytes) -> str:
    """Return the lower-case hex SHA-256 of an event's canonical JSON."""
    return hashlib.sha256(canonical).hexdigest()
