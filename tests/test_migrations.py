"""Migrations and models agree, on every backend, and upgrade is idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from qianshu import db
from qianshu.core.runtime import Runtime


def test_models_match_migrations(runtime: Runtime) -> None:
    db.import_all_models()
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, db.Base.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(runtime: Runtime) -> None:
    before = db.current_revision(runtime.engine)
    runtime.migrate()
    assert db.current_revision(runtime.engine) == before
