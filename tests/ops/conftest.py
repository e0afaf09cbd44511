"""Fixtures for ops: cheap password hashing and an operator's bearer token."""

from __future__ import annotations

from typing import Any

import pytest

from qianshu.core.runtime import Runtime

OPERATOR_PASSWORD = "Ops-password-2024!"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1, "password_hash_parallelism": 1}


@pytest.fixture
def operator_headers(runtime: Runtime) -> dict[str, str]:
    """Authorization header of a signed-in operator."""
    from qianshu.accounts import service as accounts_service

    with runtime.transaction() as session:
        accounts_service.create_operator(
            session=session, clock=runtime.clock, email="ops@example.cn", password=OPERATOR_PASSWORD
        )
        new = accounts_service.login_with_password(
            session=session, clock=runtime.clock, login="ops@example.cn", password=OPERATOR_PASSWORD
        )
    return {"Authorization": f"Bearer {new.token}"}
