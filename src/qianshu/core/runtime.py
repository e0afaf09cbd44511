"""The composition root: settings, clock, database and lazily built components.

One `Runtime` is made by `qianshu serve`, by each CLI command and by each test. Domains keep
their long-lived objects (key rings, custody, providers) in it through `component()`, so nothing
lives in module globals and tests get a fresh set each time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qianshu.config import Settings
from qianshu.core.clock import Clock, SystemClock

T = TypeVar("T")


class Runtime:
    """Everything a request, a job or a CLI command needs to reach."""

    def __init__(self, settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> None:
        from qianshu import db

        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        prepare_data_dir(settings)
        self.engine = engine or db.make_engine(settings.effective_database_url, pool_size=settings.database_pool_size)
        self.sessionmaker: sessionmaker[Session] = db.make_sessionmaker(self.engine)
        self.sessionmaker.configure(info={"runtime": self})
        self._components: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._closers: list[Callable[[], None]] = []

    def component(self, name: str, factory: Callable[[Runtime], T]) -> T:
        """Return the component `name`, building it once with `factory(self)`."""
        with self._lock:
            if name not in self._components:
                self._components[name] = factory(self)
            return self._components[name]  # type: ignore[no-any-return]  # values are built by factory

    def set_component(self, name: str, value: Any) -> None:
        """Install or replace a component (tests swap providers this way)."""
        with self._lock:
            self._components[name] = value

    def on_close(self, fn: Callable[[], None]) -> None:
        """Register a callback run by `close()`."""
        self._closers.append(fn)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on error."""
        from qianshu import db

        with db.transaction(self.sessionmaker) as session:
            yield session

    def migrate(self) -> None:
        """Bring the database schema to the newest revision."""
        from qianshu import db

        db.upgrade(self.engine)

    def close(self) -> None:
        """Stop background work and release the database."""
        for fn in reversed(self._closers):
            fn()
        self._closers.clear()
        self.engine.dispose()


def runtime_of(session: Session) -> Runtime:
    """Return the runtime that opened `session` (services reach keys and providers this way)."""
    runtime = session.info.get("runtime")
    if not isinstance(runtime, Runtime):
        raise RuntimeError("session was not opened by a Runtime")
    return runtime


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory tree with private permissions."""
    for path in (settings.data_dir, settings.secrets_dir, settings.blobs_dir, settings.outbox_dir):
        path.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.secrets_dir, 0o700)


def read_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """Return the secret in `path`, creating it (mode 0600) with random bytes if absent."""
    try:
        data = path.read_bytes()
        if len(data) != nbytes:
            raise ValueError(f"secret file {path.name} has the wrong length")
        return data
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return data
