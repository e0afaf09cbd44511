"""First-start and background wiring: migrations, keys, seed data, the in-process worker.

Each domain that needs to prepare something on start exposes a plain function named in
`STARTUP_HOOKS`; they run in this order, each in its own transaction.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime

log = get_logger("qianshu.bootstrap")

# "module:function" called as function(runtime=runtime); returns an optional message to print once.
STARTUP_HOOKS = [
    "qianshu.vault.service:ensure_keys",
    "qianshu.privacy.service:seed_policies",
    "qianshu.pki.service:ensure_ca",
    "qianshu.evidence.translog:ensure_log",
    "qianshu.accounts.service:ensure_demo_operator",
    "qianshu.evidence.service:ensure_schedules",
    "qianshu.storage.service:ensure_schedules",
    "qianshu.pki.service:ensure_schedules",
    "qianshu.notify.service:ensure_schedules",
    "qianshu.privacy.tasks:ensure_schedules",
    "qianshu.contracts.integration:ensure_schedules",
]


def _resolve(spec: str) -> Callable[..., Any] | None:
    module_name, func_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    fn: Callable[..., Any] | None = getattr(module, func_name, None)
    return fn


def prepare(runtime: Runtime) -> list[str]:
    """Migrate the database and run every startup hook; return messages for the operator."""
    runtime.migrate()
    messages: list[str] = []
    for spec in STARTUP_HOOKS:
        fn = _resolve(spec)
        if fn is None:
            continue
        result = fn(runtime=runtime)
        if isinstance(result, str) and result:
            messages.append(result)
    return messages


def start_background(runtime: Runtime) -> None:
    """Start the in-process job worker when the settings ask for it."""
    if runtime.settings.worker_in_process and runtime.settings.jobs_backend == "database":
        from qianshu.jobs import worker

        worker.start_in_process(runtime)


def stop_background(runtime: Runtime) -> None:
    """Stop the in-process job worker."""
    from qianshu.jobs import worker

    worker.stop_in_process(runtime)
