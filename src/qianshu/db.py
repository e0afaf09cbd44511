"""Database wiring: declarative base, engine, sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from qianshu.core.clock import as_utc
from qianshu.core.errors import InvalidInput

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp column that always hands back aware UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012  # SQLAlchemy reads it as a class attribute


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _refuse_nul(_conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
    """Refuse text holding U+0000 before it reaches the database, on either backend alike.

    PostgreSQL cannot store the character in a text column (the driver raises DataError, a 500),
    while SQLite would keep it. Every value a request supplies (JSON, form, query, path) ends up
    as a statement parameter, so this one check answers them all with 422 and writes nothing.
    """
    for row in parameters if executemany else (parameters,):
        values = row.values() if isinstance(row, dict) else (row or ())
        for value in values:
            if type(value) is str and "\x00" in value:
                raise InvalidInput(
                    "文本中不能含有空字符（U+0000）", detail_en="Text may not contain the NUL character (U+0000)"
                )


def make_engine(url: str, *, pool_size: int = 16, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout, PostgreSQL a pool of `pool_size`.

    On both, a statement whose text parameters hold U+0000 is refused (`_refuse_nul`).
    """
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "before_cursor_execute", _refuse_nul)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # Keep as many connections as the request threads that hit the database at once: with the default
    # pool of 5, a burst beyond it opened and closed an overflow connection (a new server process
    # and authentication) for every request.
    if "poolclass" not in kwargs:
        # A request that waits `pool_timeout` for a connection gets 503 server-busy (core/errors.py).
        kwargs = {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": 10} | kwargs
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory bound to `engine`."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def insert_if_absent(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert one row unless it would break a unique constraint; return whether it was inserted.

    One statement (INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite) instead of a look-up,
    a SAVEPOINT and a retry; a concurrent insert of the same key waits for the other transaction
    and then does nothing.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(model).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(model).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database dialect {dialect}")
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT through SQLAlchemy.
    key = list(sa_inspect(model).primary_key)
    return session.execute(stmt.returning(*key)).first() is not None


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to `revision` on `engine`."""
    from alembic import command

    cfg = _alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """Return the database's Alembic revision (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def import_all_models() -> None:
    """Import every domain's models so `Base.metadata` is complete."""
    import importlib
    import pkgutil

    import qianshu

    importlib.import_module("qianshu.core.models")
    for mod in pkgutil.iter_modules(qianshu.__path__):
        if mod.ispkg:
            try:
                importlib.import_module(f"qianshu.{mod.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"qianshu.{mod.name}.models":
                    raise
