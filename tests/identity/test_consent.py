"""Separate consent per sensitive purpose (P2): required before collection; withdrawal stops processing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from tests.identity.conftest import NAME, image_bytes, make_id
from tests.identity.loopback import IdentitySandbox

ID = "sensitive.id_number"
FACE = "sensitive.face"
DOC = "sensitive.id_document"


def test_no_consent_no_collection(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], identity_sandbox: IdentitySandbox
) -> None:
    client = client_as(make_user())
    r = client.post("/api/v1/identity/verifications", json={"level": "two_elements"})
    assert r.status_code == 403
    problem = r.json()
    assert problem["type"].endswith("/consent-required")
    assert problem["missing_purposes"] == [ID]
    assert "身份证件号码" in problem["detail"]
    r = client.post("/api/v1/identity/verifications", json={"level": "face", "consents": [ID]})
    assert r.status_code == 403
    assert r.json()["missing_purposes"] == [FACE]
    assert identity_sandbox.count() == 0


def test_unknown_consent_purpose_is_refused(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user())
    r = client.post(
        "/api/v1/identity/verifications", json={"level": "two_elements", "consents": ["marketing"]}
    )
    assert r.status_code == 422


def test_explicit_consent_in_the_start_request_is_recorded_in_the_ledger(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    user = make_user()
    client = client_as(user)
    r = client.post("/api/v1/identity/verifications", json={"level": "two_elements", "consents": [ID]})
    assert r.status_code == 201
    consents = client.get("/api/v1/me/consents").json()
    granted = {p["purpose"] for p in consents["purposes"] if p["granted"]}
    assert granted == {ID}


def test_withdrawal_in_the_privacy_centre_cancels_a_pending_check_and_stops_calls(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    runtime: Runtime,
) -> None:
    user = make_user([ID])
    client = client_as(user)
    vid = client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    r = client.post(
        f"/api/v1/identity/verifications/{vid}/elements", json={"name": NAME, "id_number": make_id(seq="999")}
    )
    assert r.json()["status"] == "pending"
    calls = identity_sandbox.count(vid)
    r = client.post("/api/v1/me/consents", json={"purpose": ID, "action": "withdraw"})
    assert r.status_code == 200
    clock.advance(timedelta(minutes=5))
    run_jobs()
    assert identity_sandbox.count(vid) == calls  # nothing more was sent
    body = client.get(f"/api/v1/identity/verifications/{vid}").json()
    assert (body["status"], body["failure_reason"]) == ("cancelled", "consent_withdrawn")
    with runtime.transaction() as s:
        row = s.execute(
            text("SELECT name_enc, id_number_enc, birth_date_enc FROM identity_verification WHERE id = :id"),
            {"id": vid},
        ).one()
    assert tuple(row) == (None, None, None)
    overview = client.get("/api/v1/identity").json()
    assert overview["open_verification"] is None
    two = next(o for o in overview["levels"] if o["level"] == "two_elements")
    assert two["missing_consents"] == [ID]
    assert client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).status_code == 403


def test_withdrawal_through_identity_cancels_at_once(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    user = make_user([ID, FACE])
    client = client_as(user)
    vid = client.post("/api/v1/identity/verifications", json={"level": "face"}).json()["id"]
    r = client.post(f"/api/v1/identity/consents/{FACE}/withdraw")
    assert r.status_code == 200
    assert r.json()["open_verification"] is None
    with runtime.transaction() as s:
        status = s.execute(
            text("SELECT status, failure_reason FROM identity_verification WHERE id = :id"), {"id": vid}
        )
        assert tuple(status.one()) == ("cancelled", "consent_withdrawn")
    r = client.post(
        f"/api/v1/identity/verifications/{vid}/face",
        data={"name": NAME, "id_number": make_id()},
        files={"photo": ("me.jpg", image_bytes(), "image/jpeg")},
    )
    assert r.status_code == 409


def test_withdrawal_removes_a_waiting_manual_review_from_the_queue(
    make_user: Callable[..., str],
    make_reviewer: Callable[..., str],
    client_as: Callable[..., TestClient],
    runtime: Runtime,
) -> None:
    user = make_user([ID, DOC])
    client = client_as(user)
    r = client.post(
        "/api/v1/identity/reviews",
        data={
            "document_type": "passport",
            "name": "John Smith",
            "document_number": "E12345678",
            "birth_date": "1980-01-02",
        },
        files=[("images", ("p.jpg", image_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    reviewer = client_as(make_reviewer(), role="operator")
    assert len(reviewer.get("/api/v1/operator/identity/reviews").json()) == 1
    with runtime.transaction() as s:
        from qianshu.privacy import service as privacy_service

        privacy_service.withdraw_consent(
            session=s, clock=runtime.clock, user_id=user, purpose=DOC, context=None
        )
    assert reviewer.get("/api/v1/operator/identity/reviews").json() == []
    with runtime.transaction() as s:
        images = s.execute(text("SELECT count(*) FROM identity_document_image")).scalar_one()
    assert images == 0


def test_on_consent_withdrawn_hook_ignores_other_purposes(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    user = make_user([ID])
    client = client_as(user)
    client.post("/api/v1/identity/verifications", json={"level": "two_elements"})
    with runtime.transaction() as s:
        assert (
            identity_service.on_consent_withdrawn(
                session=s, clock=runtime.clock, user_id=user, purpose="marketing"
            )
            == 0
        )
        assert (
            identity_service.on_consent_withdrawn(session=s, clock=runtime.clock, user_id=user, purpose=ID)
            == 0
        )


def test_identity_shows_in_the_privacy_centre_and_collection_stops_on_wind_down(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    runtime: Runtime,
) -> None:
    from datetime import date

    from qianshu.privacy import centre
    from qianshu.privacy.winddown import stop_collection

    user = make_user([ID])
    client = client_as(user)
    vid = client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    number = make_id()
    client.post(f"/api/v1/identity/verifications/{vid}/elements", json={"name": NAME, "id_number": number})
    with runtime.transaction() as s:
        sections = {x.key: x for x in centre.build_sections(session=s, user_id=user)}
        fields = {f.name: f for f in sections["identity"].fields}
        assert (fields["name"].value, fields["id_number"].value) == (NAME, number)
        assert fields["id_number"].sensitive and fields["id_number"].mask == "id_number"
        masked = centre.masked(sections["identity"])
        assert number not in masked.model_dump_json()
        stop_collection(session=s, clock=runtime.clock, actor="system", end_date=date(2026, 3, 1))
    calls = identity_sandbox.count()
    other = client_as(make_user([ID]))
    r = other.post("/api/v1/identity/verifications", json={"level": "two_elements"})
    assert r.status_code == 410
    assert r.json()["type"].endswith("/collection-stopped")
    assert identity_sandbox.count() == calls
