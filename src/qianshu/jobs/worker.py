"""The in-process worker: daemon threads that poll the job queue."""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.jobs import service

log = get_logger("qianshu.jobs.worker")


class InProcessWorker:
    """Poll for due jobs every `interval` seconds until stopped, in `threads` threads.

    Each thread claims one job at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so a slow
    provider call holds up one thread, not the queue. `threads` defaults to the setting
    `job_worker_threads`, and to 1 on SQLite, whose writers take turns anyway.
    """

    def __init__(self, runtime: Runtime, interval: float = 1.0, threads: int | None = None) -> None:
        self.runtime = runtime
        self.interval = interval
        if threads is None:
            sqlite = runtime.settings.effective_database_url.startswith("sqlite")
            threads = 1 if sqlite else runtime.settings.job_worker_threads
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._wakes = 0  # wake-ups not yet taken: one that comes while every thread is busy is kept
        self._threads = [
            threading.Thread(target=self._loop, name=f"qianshu-worker-{i}", daemon=True) for i in range(threads)
        ]

    def start(self) -> None:
        """Start the threads."""
        for thread in self._threads:
            thread.start()

    def is_alive(self) -> bool:
        """Tell whether the worker's threads run."""
        return any(thread.is_alive() for thread in self._threads)

    def wake(self) -> None:
        """Have one idle thread poll now instead of at its next tick."""
        with self._wake:
            self._wakes = min(self._wakes + 1, len(self._threads))
            self._wake.notify()

    def after_commit(self, session: Session) -> None:
        """Wake a thread when the committed transaction queued a job due now (a session event)."""
        if session.info.pop(service.DUE_NOW, False):
            self.wake()

    def stop(self) -> None:
        """Stop the threads and wait for their current jobs."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=30)

    def join(self) -> None:
        """Wait until the threads end."""
        for thread in self._threads:
            thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                service.run_pending(self.runtime)
            except Exception as exc:  # keep polling after a database hiccup
                log.warning("worker_poll_failed", error_type=type(exc).__name__)
            with self._wake:
                if not self._wakes and not self._stop.is_set():
                    self._wake.wait(self.interval)
                self._wakes = max(0, self._wakes - 1)


def start_in_process(runtime: Runtime) -> InProcessWorker:
    """Start (once) the runtime's in-process worker.

    Besides polling every `interval`, a thread starts at once when a transaction of this process
    commits a job that is due now (an SMS code, a signing link): the job waits neither for the next
    tick nor for a burst of jobs gathered over it.
    """
    worker = runtime.component("jobs.worker", InProcessWorker)
    if not worker.is_alive() and not worker._stop.is_set():
        # No after_rollback listener: it fires for a SAVEPOINT too, whose outer transaction may still
        # commit jobs; a flag left by a rolled-back transaction costs one extra poll at most.
        event.listen(runtime.sessionmaker, "after_commit", worker.after_commit)
        worker.start()
    return worker


def stop_in_process(runtime: Runtime) -> None:
    """Stop the runtime's in-process worker if it runs."""
    worker = runtime._components.get("jobs.worker")
    if isinstance(worker, InProcessWorker):
        if event.contains(runtime.sessionmaker, "after_commit", worker.after_commit):
            event.remove(runtime.sessionmaker, "after_commit", worker.after_commit)
        worker.stop()


def run_forever(runtime: Runtime, threads: int | None = None) -> None:
    """Run the worker in the foreground (`qianshu worker`), with `threads` jobs at a time."""
    worker = InProcessWorker(runtime, threads=threads)
    worker.start()
    try:
        worker.join()
    except KeyboardInterrupt:
        worker.stop()
