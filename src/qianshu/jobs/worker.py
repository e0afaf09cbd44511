"""The in-process worker: a daemon thread that polls the job queue."""

from __future__ import annotations

import threading

from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.jobs import service

log = get_logger("qianshu.jobs.worker")


class InProcessWorker:
    """Poll for due jobs every `interval` seconds until stopped."""

    def __init__(self, runtime: Runtime, interval: float = 1.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qianshu-worker", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self) -> None:
        """Poll now instead of at the next tick."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread and wait for the current job."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                service.run_pending(self.runtime)
            except Exception as exc:  # keep polling after a database hiccup
                log.warning("worker_poll_failed", error_type=type(exc).__name__)
            self._wake.wait(self.interval)
            self._wake.clear()


def start_in_process(runtime: Runtime) -> InProcessWorker:
    """Start (once) the runtime's in-process worker."""
    worker = runtime.component("jobs.worker", InProcessWorker)
    if not worker._thread.is_alive() and not worker._stop.is_set():
        worker.start()
    return worker


def stop_in_process(runtime: Runtime) -> None:
    """Stop the runtime's in-process worker if it runs."""
    worker = runtime._components.get("jobs.worker")
    if isinstance(worker, InProcessWorker):
        worker.stop()


def run_forever(runtime: Runtime) -> None:
    """Run the worker in the foreground (`qianshu worker`)."""
    worker = InProcessWorker(runtime)
    worker.start()
    try:
        worker._thread.join()
    except KeyboardInterrupt:
        worker.stop()
