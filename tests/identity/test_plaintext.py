"""No personal data in clear: not in the database file, not in any row, not in the logs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.identity.conftest import card_number, image_bytes, make_id

ID = "sensitive.id_number"
CARD = "sensitive.bank_card"
DOC = "sensitive.id_document"
NAME = "欧阳娜娜"
PHONE = "13912345678"


def _run_every_flow(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    clock: FrozenClock,
    run_jobs: Callable[[], int],
) -> list[str]:
    number, pending_number, passport = make_id(seq="135"), make_id(birth="19851111", seq="997"), "E99887766"
    card = card_number()
    person = client_as(make_user([ID, CARD]))
    vid = person.post("/api/v1/identity/verifications", json={"level": "four_elements"}).json()["id"]
    r = person.post(
        f"/api/v1/identity/verifications/{vid}/elements",
        json={"name": NAME, "id_number": number.lower(), "phone": PHONE, "bank_card": card},
    )
    assert r.json()["status"] == "verified", r.text
    waiting = client_as(make_user([ID]))
    vid = waiting.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    r = waiting.post(
        f"/api/v1/identity/verifications/{vid}/elements", json={"name": "司马懿", "id_number": pending_number}
    )
    assert r.json()["status"] == "pending"  # the elements now sit sealed in the vault
    foreigner = client_as(make_user([ID, DOC]))
    r = foreigner.post(
        "/api/v1/identity/reviews",
        data={
            "document_type": "passport",
            "name": "Zebulon Quaxley",
            "document_number": passport,
            "birth_date": "1979-05-06",
        },
        files=[("images", ("p.jpg", image_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 201
    clock.advance(timedelta(seconds=31))
    run_jobs()
    return [number, pending_number, passport, card, PHONE, NAME, "司马懿", "Zebulon Quaxley"]


def test_database_holds_no_personal_data_in_clear(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets = _run_every_flow(make_user, client_as, clock, run_jobs)
    numbers = [s for s in secrets if any(ch.isdigit() for ch in s)]
    with runtime.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # names from the schema
                blob = b"\x00".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                # A certificate carries its subject's name (that is what it certifies); numbers never.
                expected = numbers if table == "pki_certificate" else secrets
                for secret in expected:
                    assert secret.encode() not in blob, f"{table} holds personal data in clear"
    if runtime.engine.dialect.name == "sqlite":
        db = Path(runtime.engine.url.database or "")
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        for secret in numbers:
            assert secret.encode() not in raw and secret.lower().encode() not in raw
    logged = capsys.readouterr()
    for secret in secrets:
        assert secret not in logged.out and secret not in logged.err
