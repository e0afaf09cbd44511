"""No personal field is stored or logged in plain text (DESIGN: data and its protection, promise P11)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from qianshu.core.logging import configure_logging
from qianshu.core.runtime import Runtime
from tests.accounts.conftest import PASSWORD, Outbox, csrf

PHONE = "13987654321"
EMAIL = "grep.target.person@example.org"
NAME = "欧阳测试名"
NEEDLES = [PHONE.encode(), EMAIL.encode(), NAME.encode("utf-8"), PASSWORD.encode()]


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers, root.level = saved_handlers, saved_level


def _raw_files(runtime: Runtime) -> list[Path]:
    settings = runtime.settings
    files = [p for p in settings.blobs_dir.rglob("*") if p.is_file()]
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        files += [
            p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")) if p.exists()
        ]
    return files


def _database_values(runtime: Runtime) -> Iterator[tuple[str, str, bytes]]:
    metadata = MetaData()
    with runtime.engine.connect() as conn:
        metadata.reflect(conn)
        for tbl in metadata.sorted_tables:
            for row in conn.execute(select(tbl)):
                for column, value in zip(tbl.columns.keys(), row, strict=True):
                    if value is None:
                        continue
                    raw = (
                        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode("utf-8")
                    )
                    yield tbl.name, column, raw


def test_personal_data_never_lands_in_plain_text(
    client: Any,
    register: Callable[..., dict[str, Any]],
    outbox: Outbox,
    runtime: Runtime,
    captured_logs: io.StringIO,
    run_jobs: Callable[[], int],
) -> None:
    token = register(phone=PHONE, display_name=NAME)["token"]
    auth = {"Authorization": f"Bearer {token}", **csrf(client)}
    r = client.post("/api/v1/me/contact/start", json={"email": EMAIL, "password": PASSWORD}, headers=auth)
    assert r.status_code == 202
    r = client.post(
        "/api/v1/me/contact/complete", json={"email": EMAIL, "code": outbox.last_code(EMAIL)}, headers=auth
    )
    assert r.status_code == 200
    client.cookies.clear()
    assert client.post("/api/v1/sessions", json={"login": EMAIL, "password": PASSWORD}).status_code == 201
    client.cookies.clear()
    assert (
        client.post("/api/v1/sessions", json={"login": PHONE, "password": "Wrong-pass-1"}).status_code == 401
    )
    client.cookies.clear()
    assert client.post("/api/v1/sessions/sms/start", json={"phone": PHONE}).status_code == 202
    assert (
        client.post("/api/v1/sessions/sms", json={"phone": PHONE, "code": outbox.last_code()}).status_code
        == 201
    )
    client.cookies.clear()
    assert client.post("/api/v1/accounts/password-reset/start", json={"login": EMAIL}).status_code == 202
    page = client.get("/account", headers={"Authorization": f"Bearer {token}", "accept": "text/html"})
    assert page.status_code == 200 and "139****4321" in page.text and PHONE not in page.text
    run_jobs()

    findings = []
    for path in _raw_files(runtime):
        data = path.read_bytes()
        findings += [f"{path.name}: {n!r}" for n in NEEDLES if n in data]
    for name, column, value in _database_values(runtime):
        findings += [f"{name}.{column}: {n!r}" for n in NEEDLES if n in value]
    logs = captured_logs.getvalue()
    assert logs, "nothing was logged: the capture is not working"
    findings += [f"logs: {n!r}" for n in NEEDLES if n.decode("utf-8") in logs]
    assert findings == []
