"""The audit trail: hash chains per stream, network logs, verification, retention (E5)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.deps import RequestContext
from qianshu.core.runtime import Runtime
from qianshu.evidence import chain
from qianshu.evidence import service as evidence_service
from qianshu.evidence.models import AppendOnlyError, AuditEvent, NetworkLog
from tests.evidence.conftest import Tamper

USER_A = "user:usr_aaaaaaaaaaaaaaaaaaaa"
USER_B = "user:usr_bbbbbbbbbbbbbbbbbbbb"


def _ctx(
    request_id: str = "req_1", ip: str = "203.0.113.7", ua: str = "Mozilla/5.0 (X11; Linux) Test/1.0"
) -> RequestContext:
    return RequestContext(request_id=request_id, ip=ip, user_agent=ua, locale="zh-CN")


def _record(session: Session, clock: FrozenClock, stream: str, n: int, **kwargs: object) -> list[str]:
    ids = []
    for i in range(n):
        ids.append(
            evidence_service.record_event(
                session=session,
                clock=clock,
                stream=stream,
                actor="system",
                action="test.step",
                data={"i": i},
                **kwargs,  # type: ignore[arg-type]
            )
        )
        clock.advance(timedelta(seconds=1))
    return ids


def _count(session: Session) -> int:
    return len(session.scalars(select(AuditEvent.id)).all())


# --- chaining -------------------------------------------------------------------------------


def test_events_chain_per_stream(session: Session, clock: FrozenClock) -> None:
    _record(session, clock, USER_A, 3)
    _record(session, clock, USER_B, 2)
    a = evidence_service.list_events(session=session, stream=USER_A)
    b = evidence_service.list_events(session=session, stream=USER_B)
    assert [e.seq for e in a] == [1, 2, 3]
    assert [e.seq for e in b] == [1, 2]
    assert a[0].prev_hash == chain.GENESIS_HASH == b[0].prev_hash
    assert a[1].prev_hash == a[0].event_hash and a[2].prev_hash == a[1].event_hash
    assert evidence_service.chain_head(session=session, stream=USER_A) == a[2].event_hash
    assert (
        evidence_service.chain_head(session=session, stream="user:usr_cccccccccccccccccccc")
        == chain.GENESIS_HASH
    )


def test_event_hash_is_sha256_of_canonical_json(session: Session, clock: FrozenClock) -> None:
    event_id = evidence_service.record_event(
        session=session,
        clock=clock,
        stream="contract:ctr_xxxxxxxxxxxxxxxxxxxx",
        actor="system",
        action="test.hash",
        object_id="ctr_xxxxxxxxxxxxxxxxxxxx",
        data={"b": [1, "二"], "a": True},
    )
    event = evidence_service.get_event_or_raise(session=session, event_id=event_id)
    expected = (
        '{"action":"test.hash","actor":"system","created_at":"2026-01-05T02:00:00.000000Z",'
        '"data":{"a":true,"b":[1,"二"]},"id":"' + event_id + '","network_log_id":null,'
        '"object_id":"ctr_xxxxxxxxxxxxxxxxxxxx","prev_hash":"' + "0" * 64 + '","request_id":null,'
        '"seq":1,"stream":"contract:ctr_xxxxxxxxxxxxxxxxxxxx"}'
    ).encode("utf-8")
    assert event.event_hash == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "users"),
        ("stream", "user:"),
        ("stream", "user:usr x"),
        ("action", "Bad Action"),
        ("actor", ""),
        ("data", {"phone": "13800138000"}),
        ("data", {"nested": [{"email": "a@example.com"}]}),
        ("data", {"x": float("nan")}),
        ("data", {"x": 1.5}),
        ("data", {"x": 2**53}),
        ("data", {"x": ("a", "b")}),
        ("data", {"x": "\ud800"}),
        ("data", {1: "x"}),
        ("data", {"x": object()}),
    ],
)
def test_record_event_rejects_bad_input(
    session: Session, clock: FrozenClock, field: str, value: object
) -> None:
    kwargs: dict[str, object] = {"stream": "system", "actor": "system", "action": "test.ok", "data": {}}
    kwargs[field] = value
    before = _count(session)
    with pytest.raises(ValueError):
        evidence_service.record_event(session=session, clock=clock, **kwargs)  # type: ignore[arg-type]
    assert _count(session) == before


# --- network log ----------------------------------------------------------------------------


def test_network_log_is_encrypted_and_shared_within_a_request(session: Session, clock: FrozenClock) -> None:
    first = evidence_service.record_event(
        session=session,
        clock=clock,
        stream=USER_A,
        actor="usr_aaaaaaaaaaaaaaaaaaaa",
        action="test.a",
        context=_ctx(),
    )
    second = evidence_service.record_event(
        session=session,
        clock=clock,
        stream=USER_B,
        actor="usr_bbbbbbbbbbbbbbbbbbbb",
        action="test.b",
        context=_ctx(),
    )
    other = evidence_service.record_event(
        session=session,
        clock=clock,
        stream=USER_A,
        actor="usr_aaaaaaaaaaaaaaaaaaaa",
        action="test.c",
        context=_ctx(request_id="req_2", ip="198.51.100.9"),
    )
    e1, e2, e3 = (
        evidence_service.get_event_or_raise(session=session, event_id=i) for i in (first, second, other)
    )
    assert e1.network_log_id is not None and e1.network_log_id == e2.network_log_id
    assert e3.network_log_id not in (None, e1.network_log_id)
    assert e1.request_id == "req_1"
    row = session.get(NetworkLog, e1.network_log_id)
    assert row is not None
    assert b"203.0.113.7" not in row.ip and b"Mozilla" not in row.user_agent
    log = evidence_service.get_network_log(session=session, log_id=e1.network_log_id)
    assert log is not None and log.ip == "203.0.113.7" and log.user_agent.startswith("Mozilla/5.0")
    # The event rows themselves hold no address.
    for event in (e1, e2, e3):
        assert "203.0.113.7" not in event.model_dump_json()


def test_event_without_context_has_no_network_log(session: Session, clock: FrozenClock) -> None:
    event_id = evidence_service.record_event(
        session=session, clock=clock, stream="system", actor="system", action="test.x"
    )
    event = evidence_service.get_event_or_raise(session=session, event_id=event_id)
    assert event.network_log_id is None and event.request_id is None


# --- verification ---------------------------------------------------------------------------


def test_verify_accepts_intact_chains(session: Session, clock: FrozenClock) -> None:
    _record(session, clock, USER_A, 4, context=_ctx())
    _record(session, clock, USER_B, 2)
    session.commit()
    report = evidence_service.verify_chains(session=session)
    assert report.ok and report.streams == 3 and report.events == 7  # + the seeded policy's event


def test_verify_reports_a_hand_edited_event(session: Session, clock: FrozenClock, tamper: Tamper) -> None:
    ids = _record(session, clock, USER_A, 4)
    _record(session, clock, USER_B, 2)
    session.commit()
    tamper("UPDATE audit_event SET action = 'test.forged' WHERE id = :id", id=ids[1])
    session.expire_all()
    report = evidence_service.verify_chains(session=session)
    assert not report.ok
    assert len(report.breaks) == 1
    broken = report.breaks[0]
    assert (broken.stream, broken.seq, broken.event_id) == (USER_A, 2, ids[1])
    assert any("edited" in p for p in broken.problems)
    assert USER_A in broken.describe() and ids[1] in broken.describe()


def test_verify_reports_an_edit_whose_hash_was_recomputed(
    session: Session, clock: FrozenClock, tamper: Tamper
) -> None:
    ids = _record(session, clock, USER_A, 3)
    session.commit()
    event = evidence_service.get_event_or_raise(session=session, event_id=ids[1])
    forged = chain.event_hash(
        chain.canonical_event(
            event_id=event.id,
            stream=event.stream,
            seq=event.seq,
            actor=event.actor,
            action="test.forged",
            object_id=event.object_id,
            data=event.data,
            request_id=event.request_id,
            network_log_id=event.network_log_id,
            created_at=event.created_at,
            prev_hash=event.prev_hash,
        )
    )
    tamper(
        "UPDATE audit_event SET action = 'test.forged', event_hash = :h WHERE id = :id", h=forged, id=ids[1]
    )
    report = evidence_service.verify_chains(session=session)
    assert [(b.seq, b.event_id) for b in report.breaks] == [(3, ids[2])]
    assert any("prev_hash" in p for p in report.breaks[0].problems)


def test_verify_reports_a_deleted_event(session: Session, clock: FrozenClock, tamper: Tamper) -> None:
    ids = _record(session, clock, USER_A, 5)
    session.commit()
    tamper("DELETE FROM audit_event WHERE id = :id", id=ids[2])
    report = evidence_service.verify_chains(session=session)
    assert len(report.breaks) == 1
    broken = report.breaks[0]
    assert (broken.seq, broken.event_id) == (4, ids[3])
    assert any("seq 3 missing" in p for p in broken.problems)
    assert any("prev_hash" in p for p in broken.problems)


def test_verify_reports_a_deleted_first_event(session: Session, clock: FrozenClock, tamper: Tamper) -> None:
    ids = _record(session, clock, USER_A, 2)
    session.commit()
    tamper("DELETE FROM audit_event WHERE id = :id", id=ids[0])
    report = evidence_service.verify_chains(session=session)
    assert report.breaks[0].seq == 2
    assert any("genesis" in p for p in report.breaks[0].problems)


def test_verify_reports_reordered_events(session: Session, clock: FrozenClock, tamper: Tamper) -> None:
    ids = _record(session, clock, USER_A, 4)
    session.commit()
    tamper("UPDATE audit_event SET seq = 1000 WHERE id = :id", id=ids[1])
    tamper("UPDATE audit_event SET seq = 2 WHERE id = :id", id=ids[2])
    tamper("UPDATE audit_event SET seq = 3 WHERE id = :id", id=ids[1])
    report = evidence_service.verify_chains(session=session)
    assert len(report.breaks) == 1
    broken = report.breaks[0]
    assert (broken.seq, broken.event_id) == (2, ids[2])
    assert any("prev_hash" in p for p in broken.problems) and any("edited" in p for p in broken.problems)


def test_verify_reports_corrupt_data(session: Session, clock: FrozenClock, tamper: Tamper) -> None:
    ids = _record(session, clock, USER_A, 2)
    session.commit()
    tamper("UPDATE audit_event SET data = :d WHERE id = :id", d='["not", "an object"]', id=ids[0])
    report = evidence_service.verify_chains(session=session, stream=USER_A)
    assert report.breaks[0].event_id == ids[0]
    assert "data is not a JSON object" in report.breaks[0].problems


def test_verify_of_one_stream_ignores_the_others(
    session: Session, clock: FrozenClock, tamper: Tamper
) -> None:
    ids = _record(session, clock, USER_A, 2)
    _record(session, clock, USER_B, 2)
    session.commit()
    tamper("UPDATE audit_event SET actor = 'intruder' WHERE id = :id", id=ids[0])
    assert evidence_service.verify_chains(session=session, stream=USER_B).ok
    assert not evidence_service.verify_chains(session=session, stream=USER_A).ok


# --- append-only ----------------------------------------------------------------------------


def test_audit_events_cannot_be_changed_through_the_orm(session: Session, clock: FrozenClock) -> None:
    event_id = _record(session, clock, USER_A, 1)[0]
    session.commit()
    row = session.get(AuditEvent, event_id)
    assert row is not None
    row.action = "test.changed"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    session.delete(session.get(AuditEvent, event_id))
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET action = 'x.y'", "DELETE FROM audit_event"])
def test_database_refuses_update_and_delete_of_audit_events(
    runtime: Runtime, session: Session, clock: FrozenClock, statement: str
) -> None:
    _record(session, clock, USER_A, 2)
    session.commit()
    before = _count(session)
    with pytest.raises(IntegrityError, match="append-only"), runtime.engine.begin() as conn:
        conn.execute(text(statement))
    assert _count(session) == before
    assert evidence_service.verify_chains(session=session).ok


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_writers_never_fork_a_chain(runtime: Runtime, clock: FrozenClock) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(5):
                with runtime.transaction() as s:
                    evidence_service.record_event(
                        session=s,
                        clock=clock,
                        stream=USER_A,
                        actor="system",
                        action="test.race",
                        data={"w": n, "i": i},
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with runtime.transaction() as s:
        events = evidence_service.list_events(session=s, stream=USER_A)
        assert [e.seq for e in events] == list(range(1, 21))
        assert evidence_service.verify_chains(session=s).ok


# --- network-log retention ------------------------------------------------------------------


def test_network_logs_are_purged_after_the_retention_period(
    runtime: Runtime, session: Session, clock: FrozenClock
) -> None:
    retention = runtime.settings.network_log_retention_days
    logged_at = clock.now()
    old = _record(session, clock, USER_A, 1, context=_ctx("req_old"))[0]
    clock.advance(timedelta(days=10))
    _record(session, clock, USER_A, 1, context=_ctx("req_new"))
    session.commit()
    clock.set(logged_at + timedelta(days=retention))  # the old log is exactly at the limit: kept
    assert evidence_service.purge_network_logs(session=session, clock=clock) == 0
    clock.advance(timedelta(seconds=1))
    assert evidence_service.purge_network_logs(session=session, clock=clock) == 1
    session.commit()
    old_event = evidence_service.get_event_or_raise(session=session, event_id=old)
    assert old_event.network_log_id is not None
    assert evidence_service.get_network_log(session=session, log_id=old_event.network_log_id) is None
    assert session.scalar(select(NetworkLog.id)) is not None  # the newer one stays
    purged = evidence_service.list_events(session=session, stream="system")
    assert [e.action for e in purged] == ["privacy.policy_published", "evidence.network_logs_purged"]
    assert purged[-1].data["count"] == 1 and purged[-1].data["retention_days"] == retention
    assert evidence_service.verify_chains(session=session).ok


def test_purge_slot_is_the_next_19h_utc() -> None:
    at = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert evidence_service.next_purge_time(at) == datetime(2026, 1, 5, 19, 0, tzinfo=UTC)
    assert evidence_service.next_purge_time(at.replace(hour=19)) == datetime(2026, 1, 6, 19, 0, tzinfo=UTC)
    assert evidence_service.next_purge_time(at.replace(hour=23)) == datetime(2026, 1, 6, 19, 0, tzinfo=UTC)


def test_purge_job_runs_daily(runtime: Runtime, clock: FrozenClock, run_jobs: Callable[[], int]) -> None:
    from qianshu.jobs import service as jobs_service

    def purges_done() -> int:
        run_jobs()
        with runtime.transaction() as s:
            jobs = jobs_service.list_jobs(session=s, status="done", limit=1000)
            return sum(1 for j in jobs if j.kind == evidence_service.PURGE_JOB)

    with runtime.transaction() as s:
        _record(s, clock, USER_A, 1, context=_ctx())
    evidence_service.ensure_schedules(runtime=runtime)
    evidence_service.ensure_schedules(runtime=runtime)  # idempotent: one job per slot
    assert purges_done() == 0  # the first slot is tonight, not now
    clock.advance(timedelta(days=runtime.settings.network_log_retention_days + 1))
    assert purges_done() == 1
    with runtime.transaction() as s:
        assert s.scalar(select(NetworkLog.id)) is None
        queued = [j for j in jobs_service.list_jobs(session=s) if j.kind == evidence_service.PURGE_JOB]
        assert sorted(j.status for j in queued) == ["done", "queued"]
        nxt = next(j for j in queued if j.status == "queued")
        assert nxt.run_after == evidence_service.next_purge_time(clock.now())
        assert timedelta(0) < nxt.run_after - clock.now() <= timedelta(days=1)
    assert purges_done() == 1  # the next run is not due yet
    clock.advance(timedelta(days=1))
    assert purges_done() == 2


@pytest.mark.parametrize("settings_overrides", [{"network_log_retention_days": 30}])
def test_network_logs_are_kept_six_months_even_if_configured_shorter(
    session: Session, clock: FrozenClock
) -> None:
    _record(session, clock, USER_A, 1, context=_ctx())
    clock.advance(timedelta(days=31))
    assert evidence_service.purge_network_logs(session=session, clock=clock) == 0
    clock.advance(timedelta(days=evidence_service.MIN_NETWORK_LOG_DAYS - 30))
    assert evidence_service.purge_network_logs(session=session, clock=clock) == 1
    event = evidence_service.list_events(session=session, stream="system")[-1]
    assert event.data["retention_days"] == evidence_service.MIN_NETWORK_LOG_DAYS
