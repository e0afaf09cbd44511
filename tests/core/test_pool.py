"""`QIANSHU_DATABASE_POOL_SIZE` sizes each process's PostgreSQL connection pool."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from qianshu.core.runtime import Runtime


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"database_pool_size": 3}


def test_the_setting_sizes_the_pool_and_its_burst(runtime: Runtime, db_backend: str) -> None:
    if db_backend != "postgres":
        pytest.skip("SQLite: the setting is unused")
    pool: Any = runtime.engine.pool
    assert pool.size() == 3 and pool._max_overflow == 3
    held = [runtime.engine.connect() for _ in range(6)]  # three kept, three more in a burst
    try:
        assert all(c.execute(text("SELECT 1")).scalar() == 1 for c in held)
        assert pool.checkedout() == 6
    finally:
        for c in held:
            c.close()
    assert pool.checkedin() == 3  # the burst's connections are closed again
