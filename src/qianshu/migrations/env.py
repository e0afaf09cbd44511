"""Alembic environment: runs on the connection handed in by `qianshu.db.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from qianshu.db import Base, import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # alembic accepts a Connection
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as c:
        _run(c)
