"""The durable job queue: enqueue in the caller's transaction, run with retries and backoff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.db import insert_if_absent
from qianshu.jobs.models import Job

log = get_logger("qianshu.jobs")

Handler = Callable[..., None]
_HANDLERS: dict[str, Handler] = {}
_handlers_loaded = False
_LEASE = timedelta(minutes=5)
# Jobs a worker thread leases at once. One: a lease is 5 minutes, and jobs leased behind a slow one
# could be claimed again by another worker when it ran out, and run twice.
_BATCH = 1
#: Set in `Session.info` when a transaction queued a job that is due at once (see jobs/worker.py).
DUE_NOW = "qianshu.jobs.due_now"


class RetryLater(Exception):  # a signal, not an error
    """Raised by a handler to be retried with backoff without counting as a crash."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register `fn(*, runtime, session, payload)` as the handler of job `kind`."""

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def load_handlers() -> None:
    """Import every domain's `tasks` module so their handlers register (once per process)."""
    global _handlers_loaded
    if _handlers_loaded:
        return
    from qianshu.app import domain_modules

    domain_modules("tasks")
    _handlers_loaded = True


def enqueue(
    *,
    session: Session,
    clock: Clock,
    kind: str,
    payload: dict[str, Any],
    delay: timedelta | None = None,
    dedupe_key: str | None = None,
) -> str:
    """Add a job in the caller's transaction, so it exists exactly when the change commits.

    With a `dedupe_key` the job is added at most once: the insert does nothing when a job with
    that key exists (a concurrent insert by another process waits for it, then does nothing), and
    the existing job's id is returned; the caller's transaction goes on either way.
    """
    now = clock.now()
    values: dict[str, Any] = {
        "id": new_id("job"),
        "kind": kind,
        "payload": payload,
        "status": "queued",
        "attempts": 0,
        "run_after": now + (delay or timedelta(0)),
        "created_at": now,
        "dedupe_key": dedupe_key,
        "request_id": current_request_id(),
    }
    if delay is None or delay <= timedelta(0):
        session.info[DUE_NOW] = True  # a worker in this process starts on it once the caller commits
    if dedupe_key is None:
        session.add(Job(**values))  # written with the caller's next flush
        return str(values["id"])
    if insert_if_absent(session, Job, values):
        return str(values["id"])
    existing = session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
    if existing is None:  # pragma: no cover - the other insert rolled back in between
        raise RuntimeError(f"job {dedupe_key} neither inserted nor found")
    return existing


def current_request_id() -> str | None:
    """Return the request id bound to this context's logs (by the request middleware), if any."""
    import structlog

    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value)[:64] if value else None


def describe_failure(exc: BaseException) -> str:
    """Describe a job failure for the operator without personal data.

    Library errors carry their English detail; database errors (whose text can hold bound
    parameters) only their type; anything else its message with personal-looking values scrubbed.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from qianshu.core.errors import QianshuError
    from qianshu.core.logging import scrub

    name = type(exc).__name__
    if isinstance(exc, QianshuError):
        return f"{name}: {exc.detail_en}"[:2000]
    if isinstance(exc, SQLAlchemyError):
        return name
    return f"{name}: {scrub(str(exc))}"[:2000]


def backoff(attempts: int) -> timedelta:
    """Return the delay before retry number `attempts` (exponential, capped at one hour)."""
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12) * 5))


@dataclass(frozen=True)
class _Claimed:
    """A job this worker holds the lease of, with what running it needs."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    request_id: str | None


# The claim statements are built once: a worker thread asks at least twice per job (the job, then
# the empty answer that ends its round), and building and keying such an UPDATE cost more Python
# time than running it. They are Core statements on the table, so the ORM's bulk-update steps
# (looking for loaded objects to synchronise) are skipped too: the rows are never loaded as objects.
_jobs = cast(Table, Job.__table__)
_now = bindparam("now", type_=_jobs.c.run_after.type)
_claimable = (_jobs.c.run_after <= _now) & or_(
    _jobs.c.status == "queued", (_jobs.c.status == "running") & (_jobs.c.locked_until < _now)
)


def _lease(condition: Any) -> Any:
    """UPDATE … RETURNING that leases the jobs matching `condition` and reads back what running one needs."""
    return (
        update(_jobs)
        .where(condition & _claimable)
        .values(
            status="running",
            locked_until=bindparam("lease_until", type_=_jobs.c.locked_until.type),
            attempts=_jobs.c.attempts + 1,
        )
        .returning(_jobs.c.id, _jobs.c.kind, _jobs.c.payload, _jobs.c.attempts, _jobs.c.request_id)
    )


# The longest-due job, skipping rows another worker is claiming right now (PostgreSQL's SKIP
# LOCKED; SQLite runs one writer at a time). A MATERIALIZED CTE, not `id IN (subquery)`:
# PostgreSQL may run such a subquery again for each row it updates, and with SKIP LOCKED every run
# finds other rows, so LIMIT would bound nothing.
_oldest = (
    select(_jobs.c.id)
    .where(_claimable)
    .order_by(_jobs.c.run_after)
    .limit(_BATCH)
    .with_for_update(skip_locked=True)
    .cte("oldest")
    .prefix_with("MATERIALIZED")
)
_CLAIM_OLDEST = _lease(_jobs.c.id.in_(select(_oldest.c.id)))
_CLAIM_BY_ID = _lease(_jobs.c.id == bindparam("job_id"))
_DONE = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("job_id"))
    .values(status="done", locked_until=None, last_error=None, finished_at=bindparam("done_at"))
)


def _take(s: Session, statement: Any, now: datetime, **params: Any) -> list[_Claimed]:
    """Lease with one of the claim statements; return the jobs it took."""
    taken = s.execute(statement, {"now": now, "lease_until": now + _LEASE, **params}).all()
    return [_Claimed(id=row[0], kind=row[1], payload=dict(row[2]), attempts=row[3], request_id=row[4]) for row in taken]


def _claim(runtime: Runtime) -> list[_Claimed]:
    """Lease the longest-due job (a list of one); none when none is left that another worker is not holding."""
    now = runtime.clock.now()
    with runtime.transaction() as s:
        return _take(s, _CLAIM_OLDEST, now)


def _run(runtime: Runtime, job: _Claimed) -> bool:
    import structlog

    with structlog.contextvars.bound_contextvars(job_id=job.id, job_kind=job.kind, request_id=job.request_id or "-"):
        return _run_claimed(runtime, job.id, job.kind, job.payload, job.attempts)


def _run_claimed(runtime: Runtime, job_id: str, kind: str, payload: dict[str, Any], attempts: int) -> bool:
    """Run the handler; the job is marked done in the handler's own transaction, so both commit or neither."""
    fn = _HANDLERS.get(kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {kind}")
        with runtime.transaction() as s:
            fn(runtime=runtime, session=s, payload=payload)
            s.execute(_DONE, {"job_id": job_id, "done_at": runtime.clock.now()})
    except Exception as exc:  # any failure is retried, then dead-lettered
        error = describe_failure(exc)
    else:
        log.debug("job_done", job_id=job_id, kind=kind)
        return True
    now = runtime.clock.now()
    with runtime.transaction() as s:
        if attempts >= runtime.settings.job_max_attempts:
            _finish(s, job_id, status="dead", finished_at=now, last_error=error)
            log.warning("job_dead", job_id=job_id, kind=kind, attempts=attempts)
        else:
            _finish(s, job_id, status="queued", run_after=now + backoff(attempts), last_error=error)
            log.info("job_retry", job_id=job_id, kind=kind, attempts=attempts)
    return False


def _finish(s: Session, job_id: str, **values: Any) -> None:
    """End this worker's lease on the job, with its new status."""
    stmt = update(Job).where(Job.id == job_id).values(locked_until=None, **values)
    s.execute(stmt.execution_options(synchronize_session=False))


def run_pending(runtime: Runtime, limit: int = 100) -> int:
    """Run due jobs until none is left (or `limit`); return how many ran.

    Asked again after each job, until a claim comes back empty: a job may queue the next one.
    """
    load_handlers()
    ran = 0
    while ran < limit:
        batch = _claim(runtime)
        if not batch:
            break
        for job in batch:
            _run(runtime, job)
        ran += len(batch)
    return ran


def list_jobs(*, session: Session, status: str | None = None, limit: int = 100) -> list[Job]:
    """Return jobs, newest first, optionally of one status (the operator's dead-letter view)."""
    q = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if status:
        q = q.where(Job.status == status)
    return list(session.scalars(q))


def requeue(*, session: Session, clock: Clock, job_id: str) -> None:
    """Put a dead job back in the queue."""
    job = session.get(Job, job_id)
    if job is None:
        from qianshu.core.errors import NotFound

        raise NotFound()
    job.status, job.attempts, job.run_after, job.finished_at = "queued", 0, clock.now(), None
    session.flush()


def claim_and_run(runtime: Runtime, job_id: str) -> bool | None:
    """Claim the due job `job_id` (the poller's lease) and run it: whether it succeeded, or None when not claimable.

    Not claimable: not due, already done, or held by another worker. The claim reads back what
    running the job needs, so the row is read once.
    """
    with runtime.transaction() as s:
        taken = _take(s, _CLAIM_BY_ID, runtime.clock.now(), job_id=job_id)
    return _run(runtime, taken[0]) if taken else None


def count_by_status(*, session: Session) -> dict[str, int]:
    """Return how many jobs are in each status (queued, running, done, dead)."""
    from sqlalchemy import func

    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {str(status): int(count) for status, count in rows}


def get_job(*, session: Session, job_id: str) -> Job | None:
    """Return the job `job_id`, or None."""
    return session.get(Job, job_id)
