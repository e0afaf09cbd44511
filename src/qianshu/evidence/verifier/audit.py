"""Step (4): recompute each audit stream's hash chain from its genesis (see `evidence.chain`).

An audit file is `{"stream": "...", "events": [...]}` with every field the event hash covers.
Events must run seq 1, 2, 3…; each carries the hash of the one before (the first the genesis
hash) and its own hash over its canonical JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from qianshu.core.errors import VerificationFailed
from qianshu.evidence import chain
from qianshu.evidence.verifier.archive import Bundle
from qianshu.evidence.verifier.format import STEPS

__all__ = ["check_audit"]

_STEP = str(STEPS[3])
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _fail(path: str, reason: str) -> VerificationFailed:
    return VerificationFailed(step=_STEP, reason=f"{path}: {reason}")


def _event_hash(event: dict[str, Any]) -> str:
    created = datetime.strptime(event["created_at"], _TIME_FORMAT).replace(tzinfo=UTC)
    return chain.event_hash(
        chain.canonical_event(
            event_id=event["id"],
            stream=event["stream"],
            seq=event["seq"],
            actor=event["actor"],
            action=event["action"],
            object_id=event["object_id"],
            data=event["data"],
            request_id=event["request_id"],
            network_log_id=event["network_log_id"],
            created_at=created,
            prev_hash=event["prev_hash"],
        )
    )


def _check_stream(path: str, raw: bytes) -> tuple[str, list[str]]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(path, "not UTF-8 JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list) or not isinstance(doc.get("stream"), str):
        raise _fail(path, "expected an object with `stream` and `events`")
    stream = doc["stream"]
    hashes: list[str] = []
    prev = chain.GENESIS_HASH
    for expected_seq, event in enumerate(doc["events"], start=1):
        if not isinstance(event, dict) or set(event) != {*chain.HASHED_FIELDS, "event_hash"}:
            raise _fail(path, f"event {expected_seq} does not have exactly the hashed fields")
        if event["stream"] != stream:
            raise _fail(path, f"event {expected_seq} belongs to another stream")
        if event["seq"] != expected_seq:
            raise _fail(path, f"seq {expected_seq} missing or out of order (event deleted or inserted)")
        if event["prev_hash"] != prev:
            raise _fail(path, f"seq {expected_seq}: prev_hash does not match the event before (chain broken)")
        try:
            chain.check_plain_json(event["data"])
            recomputed = _event_hash(event)
        except (KeyError, TypeError, ValueError) as exc:
            raise _fail(path, f"seq {expected_seq} cannot be put in canonical form") from exc
        if recomputed != event["event_hash"]:
            raise _fail(path, f"seq {expected_seq}: event_hash does not match its content (event edited)")
        prev = recomputed
        hashes.append(recomputed)
    return stream, hashes


def check_audit(bundle: Bundle) -> dict[str, list[str]]:
    """Recompute every listed audit chain; return each stream's event hashes in order (step 4)."""
    streams: dict[str, list[str]] = {}
    for path in bundle.manifest.audit:
        stream, hashes = _check_stream(path, bundle.read(path))
        if stream in streams:
            raise _fail(path, f"stream {stream} appears twice")
        streams[stream] = hashes
    return streams
