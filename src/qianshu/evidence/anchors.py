"""Audit-chain anchors: each stream's head, periodically written to the public transparency log.

Every `ANCHOR_INTERVAL` a job looks for audit streams (user, org, contract, preservation, system…)
whose head moved since their last anchor and appends one log entry per stream:

    {"type": "audit.anchor", "stream_hash": <hex SHA-256 of the UTF-8 stream name>,
     "length": <seq of the head>, "audit_head": <event_hash of the head>, "time": …}

The stream name itself (e.g. `user:usr_…`) never enters the public log, only its hash; whoever
holds the stream's events can recompute both. Once the entry is in a published checkpoint the
platform can no longer rewrite or shorten that stream's first `length` events without the log
showing it: an evidence bundle carries the newest anchor of each of its audit streams with its
inclusion proof, and the offline verifier checks that the bundled chain has that head at that
length (`verifier/log.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.evidence import service as evidence_service
from qianshu.evidence import translog
from qianshu.evidence.models import AuditAnchor, AuditEvent

__all__ = [
    "ANCHOR_ENTRY_TYPE",
    "ANCHOR_INTERVAL",
    "ANCHOR_JOB",
    "AnchorRead",
    "anchor_heads",
    "latest_anchors",
    "schedule_anchoring",
    "stream_hash",
]

log = get_logger("qianshu.evidence")

ANCHOR_JOB = "evidence.audit.anchor"
ANCHOR_ENTRY_TYPE = "audit.anchor"
ANCHOR_INTERVAL = timedelta(hours=1)
MAX_STREAMS_PER_RUN = 5000  # the rest go in the next run, which is queued at once
_LOCK = "evidence:anchor"


@dataclass(frozen=True)
class AnchorRead:
    """One anchored head: the stream (private), its hash (public), length, head and log entry."""

    id: str
    stream: str
    stream_hash: str
    seq: int
    head_hash: str
    log_entry_id: str
    created_at: datetime


def stream_hash(stream: str) -> str:
    """Return the public name of an audit stream: hex SHA-256 of its UTF-8 name."""
    return hashlib.sha256(stream.encode("utf-8")).hexdigest()


def _read(row: AuditAnchor) -> AnchorRead:
    return AnchorRead(
        id=row.id,
        stream=row.stream,
        stream_hash=row.stream_hash,
        seq=row.seq,
        head_hash=row.head_hash,
        log_entry_id=row.log_entry_id,
        created_at=row.created_at,
    )


def _moved_heads(session: Session, limit: int) -> list[tuple[str, int, str]]:
    """Return (stream, seq, event_hash) of each head newer than the stream's last anchor."""
    heads = (
        select(AuditEvent.stream.label("stream"), func.max(AuditEvent.seq).label("seq"))
        .group_by(AuditEvent.stream)
        .subquery()
    )
    anchored = (
        select(AuditAnchor.stream.label("stream"), func.max(AuditAnchor.seq).label("seq"))
        .group_by(AuditAnchor.stream)
        .subquery()
    )
    query = (
        select(AuditEvent.stream, AuditEvent.seq, AuditEvent.event_hash)
        .join(heads, (heads.c.stream == AuditEvent.stream) & (heads.c.seq == AuditEvent.seq))
        .outerjoin(anchored, anchored.c.stream == AuditEvent.stream)
        .where(anchored.c.seq.is_(None) | (anchored.c.seq < AuditEvent.seq))
        .order_by(AuditEvent.stream)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def anchor_heads(*, session: Session, clock: Clock, limit: int = MAX_STREAMS_PER_RUN) -> list[AnchorRead]:
    """Append a log entry for every stream whose head moved since its last anchor; return the anchors.

    Runs in the caller's transaction (entries and anchors commit together); one run at a time.
    """
    evidence_service.lock_stream(session=session, stream=_LOCK)
    moved = _moved_heads(session, limit)
    if not moved:
        return []
    now = clock.now()
    leaves = translog.append_entries(
        session=session,
        clock=clock,
        entries=[
            {"type": ANCHOR_ENTRY_TYPE, "stream_hash": stream_hash(stream), "length": seq, "audit_head": head}
            for stream, seq, head in moved
        ],
    )
    rows = [
        AuditAnchor(
            id=new_id("anc"),
            stream=stream,
            stream_hash=stream_hash(stream),
            seq=seq,
            head_hash=head,
            log_entry_id=leaf.entry_id,
            created_at=now,
        )
        for (stream, seq, head), leaf in zip(moved, leaves, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    log.info("audit_heads_anchored", streams=len(rows))
    return [_read(row) for row in rows]


def latest_anchors(*, session: Session, stream: str, limit: int = 3) -> list[AnchorRead]:
    """Return the stream's newest anchors, newest first."""
    rows = session.scalars(
        select(AuditAnchor).where(AuditAnchor.stream == stream).order_by(AuditAnchor.seq.desc()).limit(limit)
    )
    return [_read(row) for row in rows]


def next_anchor_time(now: datetime) -> datetime:
    """Return the start of the next anchoring slot after `now` (the next full hour, UTC)."""
    slot = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return slot + ANCHOR_INTERVAL


def schedule_anchoring(*, session: Session, clock: Clock, at_once: bool = False) -> str:
    """Queue the next anchoring run, once per slot across processes (`at_once`: a run had more to do)."""
    from qianshu.jobs.schedules import schedule_once

    now = clock.now()
    if at_once:
        return schedule_once(
            session=session, clock=clock, kind=ANCHOR_JOB, payload={}, run_at=now, key=f"{ANCHOR_JOB}:{new_id('job')}"
        )
    return schedule_once(session=session, clock=clock, kind=ANCHOR_JOB, payload={}, run_at=next_anchor_time(now))
