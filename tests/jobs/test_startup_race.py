"""Two processes starting at once queue each startup schedule exactly once (PostgreSQL).

The race is forced, not hoped for: the test holds an EXCLUSIVE lock on the `job` table (reads
still pass, inserts wait), starts every domain's `ensure_schedules` hook in two runtimes at once,
waits until PostgreSQL shows both inserts blocked on that lock, then lets them go. Both have
already looked for the slot and found nothing, so both insert: one wins, the other must take the
winner's id instead of failing its start-up with a unique violation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from qianshu import bootstrap
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.jobs.models import Job

SCHEDULE_HOOKS = [spec for spec in bootstrap.STARTUP_HOOKS if spec.endswith(":ensure_schedules")]


@pytest.fixture
def two_runtimes(db_backend: str, settings: Settings, clock: FrozenClock) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes (two 'processes') on one fresh, migrated, not yet prepared database."""
    if db_backend != "postgres":
        pytest.skip("the start-up race is between PostgreSQL clients")
    first, second = Runtime(settings, clock=clock), Runtime(settings, clock=clock)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _lock_waiters(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def _race(hook_spec: str, runtimes: tuple[Runtime, Runtime], observer: Runtime) -> list[BaseException]:
    hook = bootstrap._resolve(hook_spec)
    assert hook is not None
    errors: list[BaseException] = []

    def start(runtime: Runtime) -> None:
        try:
            hook(runtime=runtime)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    with observer.engine.connect() as holder:
        holder.begin()
        holder.execute(text("LOCK TABLE job IN EXCLUSIVE MODE"))
        threads = [threading.Thread(target=start, args=(rt,)) for rt in runtimes]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30  # a guard against hanging, not a timing assertion
        while _lock_waiters(observer) < 2:
            assert time.monotonic() < deadline, f"{hook_spec}: the two starts never met at the insert"
            assert not errors, errors
            time.sleep(0.02)
        holder.commit()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return errors


@pytest.mark.parametrize("hook_spec", SCHEDULE_HOOKS)
def test_simultaneous_start_queues_each_schedule_once(
    hook_spec: str, two_runtimes: tuple[Runtime, Runtime], settings: Settings, clock: FrozenClock
) -> None:
    observer = Runtime(settings, clock=clock)
    try:
        assert _race(hook_spec, two_runtimes, observer) == []
        with observer.transaction() as session:
            keys = list(session.scalars(select(Job.dedupe_key)))
            total = session.scalar(select(func.count()).select_from(Job))
        assert keys, f"{hook_spec} queued nothing"
        assert total == len(set(keys))  # no slot twice
    finally:
        observer.close()


def test_two_processes_first_start_at_once(two_runtimes: tuple[Runtime, Runtime], settings: Settings) -> None:
    """Two real processes run every start-up hook at once on a fresh deployment: both come up,
    they agree on one CA, and each schedule is queued once."""
    env = {
        **os.environ,
        "QIANSHU_DATA_DIR": str(settings.data_dir),  # the shared volume
        "QIANSHU_DATABASE_URL": settings.effective_database_url,
        "QIANSHU_DEMO": "false",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "qianshu.cli", "ca", "show"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=180)[0].decode(errors="replace") for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
    roots = [
        {line.split("sha256=")[1] for line in out.splitlines() if line.startswith("root") and "sha256=" in line}
        for out in outputs
    ]
    assert len(roots[0]) == 1 and roots[0] == roots[1]  # one CA, not two
    with two_runtimes[0].transaction() as session:
        rows = list(session.execute(select(Job.kind, Job.dedupe_key).where(Job.dedupe_key.is_not(None))))
    kinds = [kind for kind, _ in rows]
    for kind in ("storage.sweep_orphans", "notify.purge", "evidence.purge_network_logs"):
        assert kinds.count(kind) == 1, rows
