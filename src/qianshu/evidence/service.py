"""The audit trail: record hash-chained events, keep network logs, verify every chain.

Each stream ("user:<id>", "org:<id>", "contract:<id>", "system") is its own chain. `record_event`
runs in the caller's transaction, so an event exists exactly when the change it records commits.
Writers of one stream are serialised (a transaction-scoped advisory lock on PostgreSQL, the
database write lock on SQLite) and `(stream, seq)` is unique, so a chain can never fork.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, delete, select, text, update
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import NotFound
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.evidence import chain
from qianshu.evidence.models import AuditEvent, NetworkLog
from qianshu.evidence.schemas import AuditEventRead, ChainBreak, NetworkLogRead, VerifyReport

log = get_logger("qianshu.evidence")

SYSTEM_SUBJECT = "sys_platform"
PURGE_JOB = "evidence.purge_network_logs"
PURGE_HOUR_UTC = 19
# 网络安全法 第21条: network logs are kept for no less than six months, whatever the setting says.
MIN_NETWORK_LOG_DAYS = 183

_STREAM_RE = re.compile(r"^(system|[a-z]{2,16}:[A-Za-z0-9_.-]{1,60})$")
_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,5}$")
_ACTOR_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_OBJECT_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Keys that would put personal data into the (plain-text, retained for years) event data.
_PERSONAL_KEYS = frozenset(
    {
        "phone",
        "email",
        "id_number",
        "real_name",
        "password",
        "ip",
        "user_agent",
        "bank_card",
        "address",
        "otp",
    }
)
_MAX_DATA_BYTES = 16 * 1024
_NLG_CACHE = "qianshu.evidence.network_logs"
_KEYED = "qianshu.evidence.vault_keys"


# --- recording ------------------------------------------------------------------------------


def record_event(
    *,
    session: Session,
    clock: Clock,
    stream: str,
    actor: str,
    action: str,
    object_id: str | None = None,
    data: dict[str, Any] | None = None,
    context: RequestContext | None = None,
    new_stream: bool = False,
) -> str:
    """Append one event to `stream`'s chain in the caller's transaction; return its id.

    `new_stream`: the caller just made the object the stream belongs to, under a fresh random id
    nobody else can know before this transaction commits, so this is the stream's first event and
    neither the lock nor the look-up of the chain's head is needed (were the stream not new after
    all, the unique (stream, seq) constraint refuses the second first event).
    """
    payload = dict(data or {})
    _check_event_input(stream=stream, actor=actor, action=action, object_id=object_id, data=payload)
    head = None
    if not new_stream:
        lock_stream(session=session, stream=stream)
        head = session.execute(
            select(AuditEvent.seq, AuditEvent.event_hash)
            .where(AuditEvent.stream == stream)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS_HASH)
    network_log_id = record_network_log(session=session, clock=clock, context=context)
    event_id = new_id("evt")
    created_at = clock.now()
    request_id = context.request_id[:64] if context is not None else None
    digest = chain.event_hash(
        chain.canonical_event(
            event_id=event_id,
            stream=stream,
            seq=seq,
            actor=actor,
            action=action,
            object_id=object_id,
            data=payload,
            request_id=request_id,
            network_log_id=network_log_id,
            created_at=created_at,
            prev_hash=prev_hash,
        )
    )
    session.add(
        AuditEvent(
            id=event_id,
            stream=stream,
            seq=seq,
            actor=actor,
            action=action,
            object_id=object_id,
            data=payload,
            request_id=request_id,
            network_log_id=network_log_id,
            created_at=created_at,
            prev_hash=prev_hash,
            event_hash=digest,
        )
    )
    session.flush()
    log.debug("audit_event", event_id=event_id, stream=stream, seq=seq, action=action)  # the row is the record
    return event_id


def record_network_log(*, session: Session, clock: Clock, context: RequestContext | None) -> str | None:
    """Store the request's IP and user agent encrypted (once per request); return the log id."""
    if context is None or not (context.ip or context.user_agent):
        return None
    cache: dict[tuple[str, str, str], str] = session.info.setdefault(_NLG_CACHE, {})
    key = (context.request_id, context.ip, context.user_agent)
    cached = cache.get(key)
    if cached is not None and session.get(NetworkLog, cached) is not None:
        return cached
    from qianshu.vault import service as vault_service

    _ensure_vault_key(session, SYSTEM_SUBJECT)
    log_id = new_id("nlg")

    def seal(column: str, value: str) -> bytes:
        return vault_service.encrypt_field(
            session=session,
            subject_id=SYSTEM_SUBJECT,
            table="network_log",
            column=column,
            row_id=log_id,
            value=value,
        )

    session.add(
        NetworkLog(
            id=log_id,
            created_at=clock.now(),
            request_id=context.request_id[:64] or None,
            subject_id=SYSTEM_SUBJECT,
            ip=seal("ip", context.ip[:64]),
            user_agent=seal("user_agent", context.user_agent[:400]),
        )
    )
    session.flush()
    cache[key] = log_id
    return log_id


def get_network_log(*, session: Session, log_id: str) -> NetworkLogRead | None:
    """Return the decrypted network log `log_id`, or None when absent or already purged."""
    row = session.get(NetworkLog, log_id)
    if row is None:
        return None
    from qianshu.vault import service as vault_service

    def unseal(column: str, blob: bytes) -> str:
        return vault_service.decrypt_field(
            session=session,
            subject_id=row.subject_id,
            table="network_log",
            column=column,
            row_id=row.id,
            blob=blob,
        )

    return NetworkLogRead(
        id=row.id,
        created_at=row.created_at,
        request_id=row.request_id,
        ip=unseal("ip", row.ip),
        user_agent=unseal("user_agent", row.user_agent),
    )


def _ensure_vault_key(session: Session, subject_id: str) -> None:
    keyed: set[str] = session.info.setdefault(_KEYED, set())
    if subject_id in keyed:
        return
    from qianshu.vault import service as vault_service

    vault_service.ensure_data_key(session=session, subject_id=subject_id)
    keyed.add(subject_id)


def _check_event_input(*, stream: str, actor: str, action: str, object_id: str | None, data: dict[str, Any]) -> None:
    if not _STREAM_RE.fullmatch(stream):
        raise ValueError(f"bad audit stream {stream!r}")
    if not _ACTOR_RE.fullmatch(actor):
        raise ValueError("bad audit actor")
    if len(action) > 80 or not _ACTION_RE.fullmatch(action):
        raise ValueError(f"bad audit action {action!r}")
    if object_id is not None and not _OBJECT_RE.fullmatch(object_id):
        raise ValueError("bad audit object id")
    chain.check_plain_json(data)
    try:
        encoded = chain.canonical_json(data)
    except (TypeError, ValueError) as exc:  # e.g. a lone surrogate cannot be encoded as UTF-8
        raise ValueError("audit data must be plain JSON text") from exc
    if len(encoded) > _MAX_DATA_BYTES:
        raise ValueError("audit data too large")
    personal = sorted(_PERSONAL_KEYS.intersection(_all_keys(data)))
    if personal:
        raise ValueError(f"audit data must not carry personal data (keys: {', '.join(personal)})")


def _all_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key).lower()
            yield from _all_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _all_keys(inner)


def lock_stream(*, session: Session, stream: str) -> None:
    """Serialise the writers of `stream` until the transaction ends (re-entrant)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"audit:{stream}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif dialect == "sqlite":
        # A write statement (matching no row) takes SQLite's write lock now, so the caller's next
        # read sees the newest committed event and nobody can append before this transaction ends.
        noop = update(AuditEvent).where(text("0 = 1")).values(seq=AuditEvent.seq)
        session.execute(noop.execution_options(synchronize_session=False))


# --- reading --------------------------------------------------------------------------------


def list_events(*, session: Session, stream: str) -> list[AuditEventRead]:
    """Return the events of `stream` in chain order."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.seq))
    return [AuditEventRead.model_validate(row) for row in rows]


def get_event(*, session: Session, event_id: str) -> AuditEventRead | None:
    """Return the event `event_id`, or None."""
    row = session.get(AuditEvent, event_id)
    return None if row is None else AuditEventRead.model_validate(row)


def chain_head(*, session: Session, stream: str) -> str:
    """Return the hash of `stream`'s newest event (the genesis hash for an empty stream)."""
    head = session.scalar(
        select(AuditEvent.event_hash).where(AuditEvent.stream == stream).order_by(AuditEvent.seq.desc()).limit(1)
    )
    return head or chain.GENESIS_HASH


def verify_chains(*, session: Session, stream: str | None = None) -> VerifyReport:
    """Recompute every chain (or one) and report the first broken link of each."""
    query = select(
        AuditEvent.id,
        AuditEvent.stream,
        AuditEvent.seq,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.object_id,
        cast(AuditEvent.data, Text),
        AuditEvent.request_id,
        AuditEvent.network_log_id,
        AuditEvent.created_at,
        AuditEvent.prev_hash,
        AuditEvent.event_hash,
    ).order_by(AuditEvent.stream, AuditEvent.seq)
    if stream is not None:
        query = query.where(AuditEvent.stream == stream)
    breaks: list[ChainBreak] = []
    streams = events = 0
    current: str | None = None
    expected_seq, prev_hash, broken = 1, chain.GENESIS_HASH, False
    for row in session.execute(query.execution_options(yield_per=1000)):
        if row.stream != current:
            current, expected_seq, prev_hash, broken = row.stream, 1, chain.GENESIS_HASH, False
            streams += 1
        events += 1
        if broken:
            continue
        problems = _link_problems(row, expected_seq, prev_hash)
        if problems:
            breaks.append(ChainBreak(stream=row.stream, seq=row.seq, event_id=row.id, problems=problems))
            broken = True
        expected_seq, prev_hash = row.seq + 1, row.event_hash
    return VerifyReport(streams=streams, events=events, breaks=breaks)


def _link_problems(row: Any, expected_seq: int, prev_hash: str) -> list[str]:
    problems: list[str] = []
    if row.seq > expected_seq:
        missing = str(expected_seq) if row.seq == expected_seq + 1 else f"{expected_seq}-{row.seq - 1}"
        problems.append(f"seq {missing} missing (event deleted)")
    elif row.seq < expected_seq:
        problems.append(f"seq {row.seq} out of order (expected {expected_seq})")
    if row.prev_hash != prev_hash:
        what = "the genesis hash" if expected_seq == 1 else f"the hash of seq {expected_seq - 1}"
        problems.append(f"prev_hash does not match {what}")
    try:
        data = json.loads(row[6]) if row[6] is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        problems.append("data is not a JSON object")
        return problems
    try:
        recomputed = chain.event_hash(
            chain.canonical_event(
                event_id=row.id,
                stream=row.stream,
                seq=row.seq,
                actor=row.actor,
                action=row.action,
                object_id=row.object_id,
                data=data,
                request_id=row.request_id,
                network_log_id=row.network_log_id,
                created_at=row.created_at,
                prev_hash=row.prev_hash,
            )
        )
    except (TypeError, ValueError):
        problems.append("event cannot be put in canonical form")
        return problems
    if recomputed != row.event_hash:
        problems.append("event_hash does not match the event's content (event edited)")
    return problems


# --- network-log retention ------------------------------------------------------------------


def purge_network_logs(*, session: Session, clock: Clock) -> int:
    """Delete network logs older than the retention period (never under six months); return how many went."""
    days = max(runtime_of(session).settings.network_log_retention_days, MIN_NETWORK_LOG_DAYS)
    cutoff = clock.now() - timedelta(days=days)
    result = session.execute(delete(NetworkLog).where(NetworkLog.created_at < cutoff))
    count = int(getattr(result, "rowcount", 0) or 0)
    session.info.pop(_NLG_CACHE, None)
    if count:
        record_event(
            session=session,
            clock=clock,
            stream="system",
            actor="system",
            action="evidence.network_logs_purged",
            data={"count": count, "cutoff": chain.format_time(cutoff), "retention_days": days},
        )
        log.info("network_logs_purged", count=count, retention_days=days)
    return count


def next_purge_time(now: datetime) -> datetime:
    """Return the next daily purge slot after `now` (19:00 UTC, 03:00 in Beijing)."""
    slot = now.astimezone(UTC).replace(hour=PURGE_HOUR_UTC, minute=0, second=0, microsecond=0)
    return slot if slot > now else slot + timedelta(days=1)


def schedule_network_log_purge(*, session: Session, clock: Clock) -> str:
    """Queue the network-log purge for the next daily slot (once per slot); return the job id."""
    from qianshu.jobs import service as jobs_service

    now = clock.now()
    run_at = next_purge_time(now)
    return jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=PURGE_JOB,
        payload={},
        delay=run_at - now,
        dedupe_key=f"{PURGE_JOB}:{run_at.date().isoformat()}",
    )


def ensure_schedules(*, runtime: Runtime) -> None:
    """Startup hook: make sure the next network-log purge and audit-head anchoring are queued."""
    from qianshu.jobs.schedules import schedule_once

    with runtime.transaction() as session:  # race-free when several processes start at once
        run_at = next_purge_time(runtime.clock.now())
        schedule_once(
            session=session,
            clock=runtime.clock,
            kind=PURGE_JOB,
            payload={},
            run_at=run_at,
            key=f"{PURGE_JOB}:{run_at.date().isoformat()}",
        )
    from qianshu.evidence import anchors

    with runtime.transaction() as session:
        anchors.schedule_anchoring(session=session, clock=runtime.clock)


def get_event_or_raise(*, session: Session, event_id: str) -> AuditEventRead:
    """Return the event `event_id` or raise NotFound."""
    found = get_event(session=session, event_id=event_id)
    if found is None:
        raise NotFound("未找到该审计事件", detail_en="No such audit event")
    return found


# --- preservation and bundles, for other domains (signing's demo) -----------------------------


def preserve_signed_file(
    *, runtime: Runtime, owner_id: str, data: bytes, media_type: str, label: str | None = None
) -> str:
    """Preserve a file (time-stamp, log, certify it at once); return its `prs_…` id.

    Raise PreservationNotCertified when the certificate could not be made now (the queued job
    finishes it later).
    """
    from qianshu.evidence import preservation

    record = preservation.submit_file(
        runtime=runtime, owner_id=owner_id, stream=data, media_type=media_type, label=label
    )
    if record.status != "certified":
        raise preservation.PreservationNotCertified()
    return record.id


def evidence_bundle(*, session: Session, subject_kind: str, subject_id: str) -> bytes:
    """Return the evidence bundle (ZIP) of a subject (see `bundle.build_bundle`)."""
    from qianshu.evidence import bundle

    return bundle.build_bundle(session=session, subject_kind=subject_kind, subject_id=subject_id)


def log_verifier_key(*, runtime: Runtime) -> str:
    """Return the transparency log's verifier key `<origin>+<key id>+<base64 key>`."""
    from qianshu.evidence import translog

    return translog.verifier_key(runtime)
