"""Which database errors are an outage (503, retry later) and which are a failing request (500)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import psycopg.errors
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import InterfaceError, OperationalError

from qianshu.core.errors import database_connection_failed, dependency_unavailable


def _op(orig: BaseException, *, invalidated: bool = False) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


OUTAGES = {
    "postgres refused or unreachable": _op(psycopg.OperationalError("connection failed: Connection refused")),
    "postgres shutting down": _op(psycopg.errors.AdminShutdown("terminating connection")),
    "postgres connection exception": _op(psycopg.errors.ConnectionFailure("connection failure")),
    "connection dropped mid-request": _op(psycopg.errors.QueryCanceled("gone"), invalidated=True),
    "closed connection (interface)": InterfaceError(
        "SELECT 1", {}, psycopg.InterfaceError("closed"), connection_invalidated=True
    ),
    "sqlite file cannot be opened": _op(sqlite3.OperationalError("unable to open database file")),
}
FAILURES = {
    "postgres lock timeout": _op(psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")),
    "postgres statement timeout": _op(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
    "postgres serialisation failure": _op(psycopg.errors.SerializationFailure("could not serialize access")),
    "sqlite busy": _op(sqlite3.OperationalError("database is locked")),
    "sqlite bad sql": _op(sqlite3.OperationalError("no such column: nope")),
    "misused cursor (interface)": InterfaceError("SELECT 1", {}, sqlite3.InterfaceError("bad binding")),
}


@pytest.mark.parametrize("name", sorted(OUTAGES))
def test_lost_connections_are_an_outage(name: str) -> None:
    assert database_connection_failed(OUTAGES[name])
    down = dependency_unavailable(OUTAGES[name])
    assert down is not None and down.status == 503


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_other_database_errors_are_not_an_outage(name: str) -> None:
    assert not database_connection_failed(FAILURES[name])
    assert dependency_unavailable(FAILURES[name]) is None


def test_an_outage_raised_from_a_connection_error_is_still_seen() -> None:
    try:
        try:
            raise OUTAGES["postgres refused or unreachable"]
        except OperationalError as exc:
            raise RuntimeError("while reading the policy") from exc
    except RuntimeError as wrapped:
        assert dependency_unavailable(wrapped) is not None


@pytest.fixture
def failing_client(app: FastAPI) -> Any:
    errors = {**OUTAGES, **FAILURES}

    @app.get("/test-only/raise/{name}")
    def _raise(name: str) -> None:
        raise errors[name]

    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("name", "status"), [*((n, 503) for n in sorted(OUTAGES)), *((n, 500) for n in sorted(FAILURES))]
)
def test_the_app_answers_503_for_outages_and_500_for_failing_statements(
    failing_client: Any,
    name: str,
    status: int,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = failing_client.get(f"/test-only/raise/{name}")
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status
    assert body["type"].endswith("/service-unavailable") == (status == 503)
    assert "Traceback" not in r.text and "SELECT" not in r.text and "unable to open" not in r.text
    logged = capsys.readouterr().out + caplog.text  # structlog prints, or hands to logging
    assert ("dependency_unavailable" if status == 503 else "unhandled_exception") in logged
