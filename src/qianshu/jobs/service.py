"""The durable job queue: enqueue in the caller's transaction, run with retries and backoff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.jobs.models import Job

log = get_logger("qianshu.jobs")

Handler = Callable[..., None]
_HANDLERS: dict[str, Handler] = {}
_LEASE = timedelta(minutes=5)


class RetryLater(Exception):  # a signal, not an error
    """Raised by a handler to be retried with backoff without counting as a crash."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register `fn(*, runtime, session, payload)` as the handler of job `kind`."""

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def load_handlers() -> None:
    """Import every domain's `tasks` module so their handlers register."""
    from qianshu.app import domain_modules

    domain_modules("tasks")


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

    With a `dedupe_key` the job is added at most once: a concurrent insert of the same key by
    another process loses inside a SAVEPOINT and gets the winner's id, the caller's transaction
    goes on.
    """
    if dedupe_key is not None:
        existing = session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
        if existing:
            return existing
        try:
            with session.begin_nested():
                return _insert(session, clock, kind, payload, delay, dedupe_key)
        except IntegrityError:
            winner = session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
            if winner is None:  # pragma: no cover - the other insert rolled back in between
                raise
            return winner
    return _insert(session, clock, kind, payload, delay, None)


def _insert(
    session: Session,
    clock: Clock,
    kind: str,
    payload: dict[str, Any],
    delay: timedelta | None,
    dedupe_key: str | None,
) -> str:
    job = Job(
        id=new_id("job"),
        kind=kind,
        payload=payload,
        status="queued",
        attempts=0,
        run_after=clock.now() + (delay or timedelta(0)),
        created_at=clock.now(),
        dedupe_key=dedupe_key,
        request_id=current_request_id(),
    )
    session.add(job)
    session.flush()
    return job.id


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


def _claim(runtime: Runtime) -> str | None:
    now = runtime.clock.now()
    with runtime.transaction() as s:
        candidate = s.scalar(
            select(Job.id)
            .where(
                Job.run_after <= now,
                or_(Job.status == "queued", (Job.status == "running") & (Job.locked_until < now)),
            )
            .order_by(Job.run_after)
            .limit(1)
        )
        if candidate is None:
            return None
        claimed = s.execute(
            update(Job)
            .where(Job.id == candidate, or_(Job.status == "queued", Job.locked_until < now))
            .values(status="running", locked_until=now + _LEASE, attempts=Job.attempts + 1)
        )
        return candidate if claimed.rowcount == 1 else None  # type: ignore[attr-defined]  # CursorResult


def run_one(runtime: Runtime, job_id: str) -> bool:
    """Run the claimed job `job_id`; return True when it succeeded."""
    import structlog

    with runtime.transaction() as s:
        job = s.get(Job, job_id)
        assert job is not None
        kind, payload, attempts, request_id = job.kind, dict(job.payload), job.attempts, job.request_id
    with structlog.contextvars.bound_contextvars(job_id=job_id, job_kind=kind, request_id=request_id or "-"):
        return _run_claimed(runtime, job_id, kind, payload, attempts)


def _run_claimed(runtime: Runtime, job_id: str, kind: str, payload: dict[str, Any], attempts: int) -> bool:
    fn = _HANDLERS.get(kind)
    error: str | None = None
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {kind}")
        with runtime.transaction() as s:
            fn(runtime=runtime, session=s, payload=payload)
    except Exception as exc:  # any failure is retried, then dead-lettered
        error = describe_failure(exc)
    with runtime.transaction() as s:
        job = s.get(Job, job_id)
        assert job is not None
        now = runtime.clock.now()
        if error is None:
            job.status, job.finished_at, job.last_error, job.locked_until = "done", now, None, None
            log.info("job_done", job_id=job_id, kind=kind)
            return True
        job.last_error = error
        job.locked_until = None
        if attempts >= runtime.settings.job_max_attempts:
            job.status, job.finished_at = "dead", now
            log.warning("job_dead", job_id=job_id, kind=kind, attempts=attempts)
        else:
            job.status, job.run_after = "queued", now + backoff(attempts)
            log.info("job_retry", job_id=job_id, kind=kind, attempts=attempts)
        return False


def run_pending(runtime: Runtime, limit: int = 100) -> int:
    """Run due jobs until none is left (or `limit`); return how many ran."""
    load_handlers()
    ran = 0
    while ran < limit:
        job_id = _claim(runtime)
        if job_id is None:
            break
        run_one(runtime, job_id)
        ran += 1
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


def claim_job(runtime: Runtime, job_id: str) -> bool:
    """Claim the due job `job_id` for this worker (same lease as the poller); False if not claimable."""
    now = runtime.clock.now()
    with runtime.transaction() as s:
        claimed = s.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.run_after <= now,
                or_(Job.status == "queued", (Job.status == "running") & (Job.locked_until < now)),
            )
            .values(status="running", locked_until=now + _LEASE, attempts=Job.attempts + 1)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]  # CursorResult


def count_by_status(*, session: Session) -> dict[str, int]:
    """Return how many jobs are in each status (queued, running, done, dead)."""
    from sqlalchemy import func

    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {str(status): int(count) for status, count in rows}


def get_job(*, session: Session, job_id: str) -> Job | None:
    """Return the job `job_id`, or None."""
    return session.get(Job, job_id)
