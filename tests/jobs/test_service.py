"""The durable job queue: enqueue in a transaction, run, retry with backoff, dead-letter."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.jobs import service as jobs_service
from qianshu.jobs.models import Job
from qianshu.jobs.worker import InProcessWorker

CALLS: list[dict[str, Any]] = []


@jobs_service.handler("test.ok")
def _ok(*, runtime: Runtime, session: Any, payload: dict[str, Any]) -> None:
    CALLS.append(payload)


@jobs_service.handler("test.fail")
def _fail(*, runtime: Runtime, session: Any, payload: dict[str, Any]) -> None:
    raise RuntimeError("provider down")


def _enqueue(runtime: Runtime, clock: FrozenClock, kind: str, **kw: Any) -> str:
    with runtime.transaction() as s:
        return jobs_service.enqueue(session=s, clock=clock, kind=kind, payload={"n": 1}, **kw)


def test_job_runs_once_and_is_marked_done(runtime: Runtime, clock: FrozenClock) -> None:
    CALLS.clear()
    job_id = _enqueue(runtime, clock, "test.ok")
    assert jobs_service.run_pending(runtime) == 1
    assert jobs_service.run_pending(runtime) == 0
    assert CALLS == [{"n": 1}]
    with runtime.transaction() as s:
        assert s.get(Job, job_id).status == "done"  # type: ignore[union-attr]


def test_enqueue_rolled_back_with_the_caller(runtime: Runtime, clock: FrozenClock) -> None:
    s = runtime.sessionmaker()
    jobs_service.enqueue(session=s, clock=clock, kind="test.ok", payload={})
    s.rollback()
    s.close()
    assert jobs_service.run_pending(runtime) == 0


def test_failed_job_backs_off_then_dead_letters(runtime: Runtime, clock: FrozenClock) -> None:
    job_id = _enqueue(runtime, clock, "test.fail")
    assert jobs_service.run_pending(runtime) == 1
    # not due again until the backoff has passed
    assert jobs_service.run_pending(runtime) == 0
    for attempt in range(2, runtime.settings.job_max_attempts + 1):
        clock.advance(jobs_service.backoff(attempt - 1) + timedelta(seconds=1))
        assert jobs_service.run_pending(runtime) == 1
    with runtime.transaction() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "dead"
        assert job.attempts == runtime.settings.job_max_attempts
        assert "provider down" in (job.last_error or "")
        assert [j.id for j in jobs_service.list_jobs(session=s, status="dead")] == [job_id]
        jobs_service.requeue(session=s, clock=clock, job_id=job_id)
    assert jobs_service.run_pending(runtime) == 1


def test_unknown_kind_is_retried_not_crashing(runtime: Runtime, clock: FrozenClock) -> None:
    job_id = _enqueue(runtime, clock, "test.nobody")
    assert jobs_service.run_pending(runtime) == 1
    with runtime.transaction() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "queued"
        assert "no handler" in (job.last_error or "")


def test_dedupe_key_enqueues_once(runtime: Runtime, clock: FrozenClock) -> None:
    a = _enqueue(runtime, clock, "test.ok", dedupe_key="crl-refresh:2026-01-05")
    b = _enqueue(runtime, clock, "test.ok", dedupe_key="crl-refresh:2026-01-05")
    assert a == b


def test_stale_running_job_is_reclaimed(runtime: Runtime, clock: FrozenClock) -> None:
    CALLS.clear()
    job_id = _enqueue(runtime, clock, "test.ok")
    with runtime.transaction() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.locked_until = "running", clock.now() + timedelta(minutes=5)
    assert jobs_service.run_pending(runtime) == 0
    clock.advance(timedelta(minutes=6))
    assert jobs_service.run_pending(runtime) == 1
    assert CALLS == [{"n": 1}]


SLOW: list[tuple[int, str]] = []


@jobs_service.handler("test.slow")
def _slow(*, runtime: Runtime, session: Any, payload: dict[str, Any]) -> None:
    time.sleep(0.02)  # a provider's round trip: the threads overlap here
    SLOW.append((payload["n"], threading.current_thread().name))


def test_worker_threads_run_each_job_exactly_once(runtime: Runtime, clock: FrozenClock) -> None:
    SLOW.clear()
    with runtime.transaction() as s:
        for n in range(40):
            jobs_service.enqueue(session=s, clock=clock, kind="test.slow", payload={"n": n})
    jobs_service.load_handlers()  # imported once, before the threads race for the import lock
    worker = InProcessWorker(runtime, interval=0.05)  # 4 threads on PostgreSQL, 1 on SQLite (settings)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(SLOW) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()  # joins the threads: a job run twice has shown up by now
    assert sorted(n for n, _ in SLOW) == list(range(40))
    with runtime.transaction() as s:
        statuses = s.scalars(select(Job.status).where(Job.kind == "test.slow")).all()
        assert statuses == ["done"] * 40
    if runtime.settings.effective_database_url.startswith("postgresql"):
        assert len({thread for _, thread in SLOW}) > 1  # SKIP LOCKED: the threads took jobs side by side


def test_sqlite_worker_runs_one_thread(runtime: Runtime) -> None:
    worker = InProcessWorker(runtime)
    sqlite = runtime.settings.effective_database_url.startswith("sqlite")
    assert len(worker._threads) == (1 if sqlite else runtime.settings.job_worker_threads)


def test_a_committed_job_wakes_the_worker_at_once(runtime: Runtime, clock: FrozenClock) -> None:
    from qianshu.jobs.worker import start_in_process, stop_in_process

    SLOW.clear()
    jobs_service.load_handlers()  # imported now, so the threads' first poll is quick
    runtime.set_component("jobs.worker", InProcessWorker(runtime, interval=600, threads=2))
    start_in_process(runtime)
    try:
        time.sleep(1)  # the threads' first poll found nothing; the next tick is ten minutes away
        with runtime.transaction() as s:  # rolled back: nothing to run, no wake-up kept for later
            jobs_service.enqueue(session=s, clock=clock, kind="test.slow", payload={"n": -1})
            s.rollback()
        with runtime.transaction() as s:
            jobs_service.enqueue(session=s, clock=clock, kind="test.slow", payload={"n": 1})
        deadline = time.monotonic() + 10
        while not SLOW and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop_in_process(runtime)
    assert [n for n, _ in SLOW] == [1]


def test_a_claim_leases_one_job(runtime: Runtime, clock: FrozenClock) -> None:
    with runtime.transaction() as s:
        for n in range(10):
            jobs_service.enqueue(session=s, clock=clock, kind="test.ok", payload={"n": n})
    first = jobs_service._claim(runtime)
    second = jobs_service._claim(runtime)
    assert len(first) == 1 and len(second) == 1 and first[0].id != second[0].id
    with runtime.transaction() as s:
        statuses = s.scalars(select(Job.status).where(Job.kind == "test.ok")).all()
    assert sorted(statuses) == ["queued"] * 8 + ["running"] * 2
