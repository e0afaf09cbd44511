"""Run the job queue on Dramatiq workers over Redis or RabbitMQ (`QIANSHU_JOBS_BACKEND=dramatiq`).

The `job` table stays the source of truth (transactional outbox): `jobs_service.enqueue` writes
the row in the caller's transaction as always. A relay (`relay_due`, run by `qianshu worker`)
marks due rows as dispatched with a conditional UPDATE and, after that commits, sends their ids
to the broker. The Dramatiq actor claims the row with the same lease as the database poller
and runs the handler in one call (`jobs_service.claim_and_run`), so retries with
backoff, dead-lettering and the operator's requeue behave exactly as on the database backend.

Delivery is at least once: a message lost in the broker is re-sent when its dispatch hold lapses;
a duplicate delivery finds the row already claimed or done and is dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from qianshu.core.errors import ServiceUnavailable
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.jobs import service as jobs_service
from qianshu.jobs.models import Job

__all__ = [
    "ACTOR_NAME",
    "BrokerUnavailable",
    "DramatiqBackend",
    "backend_for",
    "broker_url",
    "check_broker",
    "execute",
    "make_broker",
    "relay_due",
    "run_worker",
]

log = get_logger("qianshu.jobs.dramatiq")

ACTOR_NAME = "qianshu_run_job"
DISPATCH_HOLD = timedelta(minutes=5)  # a dispatched job is re-sent if nobody claimed it by then
_COMPONENT = "jobs.dramatiq"
_TIME_LIMIT_MS = 60 * 60 * 1000


class BrokerUnavailable(ServiceUnavailable):
    """The message broker is not configured or cannot be reached."""

    slug = "broker-unavailable"
    title = "消息队列不可用"
    title_en = "The message broker is unavailable"


def broker_url(runtime: Runtime) -> str:
    """Return the broker URL (`QIANSHU_BROKER_URL`, else `QIANSHU_REDIS_URL`) or raise."""
    url = runtime.settings.broker_url or runtime.settings.redis_url
    if not url:
        raise BrokerUnavailable(
            "QIANSHU_JOBS_BACKEND=dramatiq 需要设置 QIANSHU_BROKER_URL（redis:// 或 amqp://）",
            detail_en="QIANSHU_JOBS_BACKEND=dramatiq needs QIANSHU_BROKER_URL (redis:// or amqp://)",
        )
    return url


def make_broker(url: str, *, namespace: str = "qianshu") -> Any:
    """Build a Dramatiq broker for a `redis://` or `amqp://` URL."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]  # untyped library
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise BrokerUnavailable(
        "QIANSHU_BROKER_URL 必须以 redis:// 或 amqp:// 开头",
        detail_en="QIANSHU_BROKER_URL must start with redis:// or amqp://",
    )


@dataclass
class DramatiqBackend:
    """The runtime's broker and the one actor that runs any job by id."""

    broker: Any
    actor: Any
    queue_name: str

    def send(self, job_id: str) -> None:
        """Publish one job id to the queue."""
        self.actor.send(job_id)


def _build(runtime: Runtime) -> DramatiqBackend:
    import dramatiq

    url = broker_url(runtime)
    queue = runtime.settings.dramatiq_queue
    broker = make_broker(url, namespace=queue)

    def run_job(job_id: str) -> None:
        execute(runtime, job_id)

    actor = dramatiq.Actor(
        run_job,
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=queue,
        priority=0,
        # Retries and dead-lettering happen in the job table, never in the broker.
        options={"max_retries": 0, "time_limit": _TIME_LIMIT_MS},
    )
    runtime.on_close(broker.close)
    return DramatiqBackend(broker=broker, actor=actor, queue_name=queue)


def backend_for(runtime: Runtime) -> DramatiqBackend:
    """Return the runtime's Dramatiq broker and actor (built once)."""
    return runtime.component(_COMPONENT, _build)


def execute(runtime: Runtime, job_id: str) -> bool:
    """Claim the job and run it; a job already claimed or finished is skipped (duplicate delivery)."""
    jobs_service.load_handlers()
    succeeded = jobs_service.claim_and_run(runtime, job_id)
    if succeeded is None:
        log.info("job_delivery_skipped", job_id=job_id)
        return False
    return succeeded


def _dispatchable(now: Any) -> Any:
    queued = and_(Job.status == "queued", or_(Job.locked_until.is_(None), Job.locked_until < now))
    lapsed = and_(Job.status == "running", Job.locked_until < now)
    return and_(Job.run_after <= now, or_(queued, lapsed))


def relay_due(runtime: Runtime, *, limit: int = 500) -> int:
    """Send the ids of due jobs to the broker, each at most once per dispatch hold; return how many.

    Several relays may run at once: the conditional UPDATE lets exactly one of them dispatch a row.
    A running job whose lease lapsed (its worker died) is put back in the queue and re-sent.
    """
    backend = backend_for(runtime)
    now = runtime.clock.now()
    with runtime.transaction() as s:
        candidates = list(s.scalars(select(Job.id).where(_dispatchable(now)).order_by(Job.run_after).limit(limit)))
    sent = 0
    for job_id in candidates:
        with runtime.transaction() as s:
            marked = s.execute(
                update(Job)
                .where(Job.id == job_id, _dispatchable(now))
                .values(status="queued", locked_until=now + DISPATCH_HOLD)
            )
            won = marked.rowcount == 1  # type: ignore[attr-defined]  # CursorResult
        if won:
            backend.send(job_id)
            sent += 1
    if sent:
        log.info("jobs_relayed", count=sent, queue=backend.queue_name)
    return sent


def check_broker(runtime: Runtime) -> str:
    """Reach the broker; return its kind, or raise BrokerUnavailable naming the setting."""
    url = broker_url(runtime)
    try:
        if url.startswith(("amqp://", "amqps://")):
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(url))
            connection.close()
            return "rabbitmq"
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return "redis"
    except BrokerUnavailable:
        raise
    except Exception as exc:  # any client error means "not reachable"
        raise BrokerUnavailable(
            "无法连接消息队列（QIANSHU_BROKER_URL）",
            detail_en=f"Cannot reach the broker (QIANSHU_BROKER_URL): {type(exc).__name__}",
        ) from None


class DramatiqWorker:
    """A Dramatiq worker plus the relay loop, in this process (`qianshu worker`)."""

    def __init__(self, runtime: Runtime, *, threads: int = 4) -> None:
        import dramatiq

        self.runtime = runtime
        self.backend = backend_for(runtime)
        self.worker = dramatiq.Worker(
            self.backend.broker, queues={self.backend.queue_name}, worker_threads=threads, worker_timeout=100
        )
        self._stop = threading.Event()

    def start(self) -> None:
        """Start consuming the queue."""
        self.worker.start()

    def relay_forever(self) -> None:
        """Relay due jobs every `relay_interval_seconds` until `stop()`."""
        interval = self.runtime.settings.relay_interval_seconds
        while not self._stop.is_set():
            try:
                relay_due(self.runtime)
            except Exception as exc:  # keep relaying after a database or broker hiccup
                log.warning("relay_failed", error_type=type(exc).__name__)
            self._stop.wait(interval)

    def stop(self) -> None:
        """Stop relaying and consuming; wait for running jobs."""
        self._stop.set()
        self.worker.stop()


def run_worker(runtime: Runtime, *, threads: int = 4) -> None:
    """Run a Dramatiq worker and the relay in the foreground until interrupted."""
    import signal

    check_broker(runtime)
    worker = DramatiqWorker(runtime, threads=threads)
    worker.start()
    signal.signal(signal.SIGTERM, lambda *_: worker._stop.set())
    log.info("dramatiq_worker_started", queue=worker.backend.queue_name, threads=threads)
    try:
        worker.relay_forever()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
