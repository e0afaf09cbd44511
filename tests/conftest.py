"""Root fixtures: settings, runtime, clock, session and client, on SQLite and PostgreSQL.

Every test gets a fresh database. SQLite: a copy of a migrated template file. PostgreSQL (when
QIANSHU_TEST_DATABASE_URL is set): `CREATE DATABASE … TEMPLATE` from a migrated template made
once per test process, dropped afterwards. The same tests run on both backends.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime

PG_URL = os.environ.get("QIANSHU_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("QIANSHU_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
SHARED = Path(__file__).resolve().parents[2] / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sqlite-only", action="store_true", help="skip the PostgreSQL variant of each test")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qianshu import db

    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _pg_admin_url() -> str:
    assert PG_URL
    return make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    from qianshu import db

    name = f"qs_tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_pg_admin_url()).set(database=name)
    engine = db.make_engine(url.render_as_string(hide_password=False))
    db.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and request.config.getoption("--sqlite-only"):
        pytest.skip("--sqlite-only")
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = tmp_path / "data" / "qianshu.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("_pg_template")
    name = f"qs_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "public_base_url": "http://testserver",
        "worker_in_process": False,
        "demo": False,
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    from qianshu import bootstrap

    rt = Runtime(settings, clock=clock)
    bootstrap.prepare(rt)
    _hand_over_retention_key(rt)
    yield rt
    rt.close()


def _hand_over_retention_key(runtime: Runtime) -> None:
    """Set up the retention key pair: only the public key stays; the private key goes outside data/."""
    from qianshu.vault import service as vault_service

    offline = retention_private_key_path(runtime)
    if vault_service.retention_key_status(runtime=runtime).kid is None and not offline.exists():
        _kid, pem = vault_service.create_retention_key(runtime=runtime)
        offline.write_bytes(pem)


def retention_private_key_path(runtime: Runtime) -> Path:
    """Where the test installation's operator keeps the retention private key (outside data/)."""
    return runtime.settings.data_dir.parent / "offline-retention-private.pem"


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    """A session committed at the end of the test (the database is thrown away anyway)."""
    s = runtime.sessionmaker()
    try:
        yield s
        s.commit()
    finally:
        s.close()


@pytest.fixture
def app(runtime: Runtime) -> Any:
    from qianshu.app import create_app

    return create_app(runtime, start_background=False)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def run_jobs(runtime: Runtime) -> Callable[[], int]:
    """Run every due job now (no sleeping in tests)."""
    from qianshu.jobs import service as jobs_service

    return lambda: jobs_service.run_pending(runtime)


@pytest.fixture
def loopback_socket(db_backend: str) -> Iterator[socket.socket]:
    """A loopback listener for the platform itself; checks by outside tools run once, on SQLite."""
    from tests.support.live import loopback_listener

    if db_backend == "postgres":
        pytest.skip("interop checks run once, on SQLite")
    with loopback_listener() as sock:
        yield sock


@pytest.fixture
def served(settings: Settings, loopback_socket: socket.socket) -> Iterator[Runtime]:
    """The platform served on `loopback_socket` (OCSP, CRLs, sandboxes); yields its real-clock runtime.

    A module using it points `public_base_url` at the socket in its `settings_overrides`.
    """
    from tests.support.live import serve_platform

    with serve_platform(settings, loopback_socket) as runtime:
        yield runtime
