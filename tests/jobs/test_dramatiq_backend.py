"""The same jobs on Dramatiq workers over real Redis and RabbitMQ: relay, claim, retry, dead-letter."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from qianshu.core.runtime import Runtime
from qianshu.jobs import dramatiq_backend
from qianshu.jobs import service as jobs_service
from qianshu.jobs.schedules import schedule_once, slot_key

REDIS = "redis://127.0.0.1:6379/15"
RABBIT = "amqp://guest:guest@127.0.0.1:5672/%2F"
DONE: list[str] = []


@jobs_service.handler("test.dramatiq.ok")
def _ok(*, runtime: Runtime, session: Any, payload: dict[str, Any]) -> None:
    DONE.append(str(payload["tag"]))


@jobs_service.handler("test.dramatiq.fail")
def _fail(*, runtime: Runtime, session: Any, payload: dict[str, Any]) -> None:
    raise RuntimeError("always fails")


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    from tests.conftest import REDIS_URL

    url = (REDIS_URL or REDIS) if request.param == "redis" else RABBIT
    if not _reachable(url):
        pytest.skip(f"{request.param} broker not reachable at {urlparse(url).hostname}:{urlparse(url).port}")
    return url


@pytest.fixture
def settings_overrides(broker_url: str) -> dict[str, Any]:
    return {
        "jobs_backend": "dramatiq",
        "broker_url": broker_url,
        "dramatiq_queue": f"qs_t_{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[dramatiq_backend.DramatiqWorker]:
    w = dramatiq_backend.DramatiqWorker(runtime, threads=2)
    w.start()
    yield w
    w.stop()
    backend = dramatiq_backend.backend_for(runtime)
    backend.broker.flush(backend.queue_name)
    if hasattr(backend.broker, "channel"):
        backend.broker.channel.queue_delete(backend.queue_name)
        backend.broker.channel.queue_delete(f"{backend.queue_name}.DQ")
        backend.broker.channel.queue_delete(f"{backend.queue_name}.XQ")


def _drain(runtime: Runtime, worker: dramatiq_backend.DramatiqWorker) -> None:
    backend = dramatiq_backend.backend_for(runtime)
    backend.broker.join(backend.queue_name, timeout=20_000)
    worker.worker.join()


def _status(runtime: Runtime, job_id: str) -> tuple[str, int]:
    with runtime.transaction() as s:
        job = jobs_service.get_job(session=s, job_id=job_id)
        assert job is not None
        return job.status, job.attempts


def test_job_runs_on_the_dramatiq_worker_exactly_once(runtime: Runtime, worker: Any) -> None:
    tag = uuid.uuid4().hex
    with runtime.transaction() as s:
        job_id = jobs_service.enqueue(session=s, clock=runtime.clock, kind="test.dramatiq.ok", payload={"tag": tag})
    assert dramatiq_backend.check_broker(runtime) in ("redis", "rabbitmq")
    assert dramatiq_backend.relay_due(runtime) == 1
    assert dramatiq_backend.relay_due(runtime) == 0  # held: not sent twice
    _drain(runtime, worker)
    assert _status(runtime, job_id) == ("done", 1)
    assert DONE.count(tag) == 1
    # A duplicate delivery (broker redelivery) finds the job done and does nothing.
    dramatiq_backend.backend_for(runtime).send(job_id)
    _drain(runtime, worker)
    assert DONE.count(tag) == 1 and _status(runtime, job_id) == ("done", 1)


def test_failures_retry_with_backoff_then_dead_letter(runtime: Runtime, worker: Any, clock: Any) -> None:
    runtime.settings.job_max_attempts = 2
    with runtime.transaction() as s:
        job_id = jobs_service.enqueue(session=s, clock=runtime.clock, kind="test.dramatiq.fail", payload={})
    assert dramatiq_backend.relay_due(runtime) == 1
    _drain(runtime, worker)
    assert _status(runtime, job_id) == ("queued", 1)
    assert dramatiq_backend.relay_due(runtime) == 0  # not due before its backoff
    clock.advance(jobs_service.backoff(1))
    assert dramatiq_backend.relay_due(runtime) == 1
    _drain(runtime, worker)
    assert _status(runtime, job_id) == ("dead", 2)
    with runtime.transaction() as s:
        jobs_service.requeue(session=s, clock=runtime.clock, job_id=job_id)
    assert dramatiq_backend.relay_due(runtime) == 1


def test_lost_message_is_resent_after_the_hold(
    runtime: Runtime, worker: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    tag = uuid.uuid4().hex
    with runtime.transaction() as s:
        job_id = jobs_service.enqueue(session=s, clock=runtime.clock, kind="test.dramatiq.ok", payload={"tag": tag})
    backend = dramatiq_backend.backend_for(runtime)
    with monkeypatch.context() as m:
        m.setattr(backend, "send", lambda job_id: None)  # the message never reaches the broker
        assert dramatiq_backend.relay_due(runtime) == 1
    assert dramatiq_backend.relay_due(runtime) == 0
    clock.advance(dramatiq_backend.DISPATCH_HOLD + timedelta(seconds=1))
    assert dramatiq_backend.relay_due(runtime) == 1
    _drain(runtime, worker)
    assert _status(runtime, job_id)[0] == "done" and DONE.count(tag) == 1


def test_schedule_once_per_slot(runtime: Runtime, clock: Any) -> None:
    run_at = clock.now().replace(microsecond=0)
    with runtime.transaction() as s:
        first = schedule_once(session=s, clock=clock, kind="test.dramatiq.ok", payload={"tag": "x"}, run_at=run_at)
    with runtime.transaction() as s:
        second = schedule_once(session=s, clock=clock, kind="test.dramatiq.ok", payload={"tag": "x"}, run_at=run_at)
    assert first == second
    assert slot_key("k", run_at).startswith("k:")
