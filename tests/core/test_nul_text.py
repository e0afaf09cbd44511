"""Text holding U+0000 is refused with 422 on both backends, before anything is written.

PostgreSQL cannot store the character in a text column (psycopg raises DataError, which was a 500);
SQLite would keep it. `db.make_engine` refuses such a statement parameter on either backend.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime

PASSWORD = "Correct-horse-42"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1, "password_hash_parallelism": 1}


def _bearer(runtime: Runtime, client: Any) -> dict[str, str]:
    from qianshu.accounts import service as accounts_service

    with runtime.transaction() as s:
        accounts_service.create_operator(session=s, clock=runtime.clock, email="ops@example.com", password=PASSWORD)
    token = client.post("/api/v1/sessions", json={"login": "ops@example.com", "password": PASSWORD}).json()["token"]
    client.cookies.clear()
    return {"authorization": f"Bearer {token}"}


def _is_nul_problem(r: Any) -> bool:
    return (
        r.status_code == 422
        and r.headers["content-type"].startswith("application/problem+json")
        and "U+0000" in r.json()["detail"]
    )


def test_a_nul_in_request_text_is_a_422_and_writes_nothing(runtime: Runtime, client: Any) -> None:
    auth = _bearer(runtime, client)
    before = client.get("/api/v1/templates", headers=auth).json()
    r = client.post("/api/v1/templates", json={"title": "甲\u0000乙", "body": "正文"}, headers=auth)
    assert _is_nul_problem(r), r.text
    assert client.get("/api/v1/templates", headers=auth).json() == before
    # what Schemathesis sent: a policy id with a NUL (a look-up, not a write)
    assert _is_nul_problem(client.post("/api/v1/privacy/acceptances", json={"policy_id": "K\u0000x"}, headers=auth))
    # the same title without the NUL is taken
    assert client.post("/api/v1/templates", json={"title": "甲乙", "body": "正文"}, headers=auth).status_code == 201


def test_the_engine_refuses_nul_in_any_statement_parameter(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT :v"), {"v": "no nul here"}).scalar() == "no nul here"
        with pytest.raises(InvalidInput):
            conn.execute(text("SELECT :v"), {"v": "a\x00b"})
        assert conn.execute(text("SELECT :v"), {"v": b"bytes\x00are fine"}).scalar() == b"bytes\x00are fine"
