"""Fixtures for the audit-trail tests: raw SQL that bypasses the append-only guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from qianshu.core.runtime import Runtime

Tamper = Callable[..., None]


@pytest.fixture
def tamper(runtime: Runtime) -> Tamper:
    """Run raw SQL as an intruder with database rights would: the append-only triggers switched off."""

    def run(statement: str, **params: Any) -> None:
        with runtime.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            else:
                for verb in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_audit_event_no_{verb}")
            conn.execute(text(statement), params)

    return run
