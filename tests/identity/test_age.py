"""The age gate (A8): birth date from the ID number against the injected clock; the guardian path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from tests.identity.conftest import make_id
from tests.identity.loopback import IdentitySandbox

ID = "sensitive.id_number"
ADULT = make_id(birth="19800101", seq="201")


def _verify(client: TestClient, id_number: str, name: str = "李小明") -> Any:
    r = client.post("/api/v1/identity/verifications", json={"level": "two_elements"})
    if r.status_code != 201:
        return r
    return client.post(
        f"/api/v1/identity/verifications/{r.json()['id']}/elements",
        json={"name": name, "id_number": id_number},
    )


def test_under_18_is_refused_with_a_clear_message(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], identity_sandbox: IdentitySandbox
) -> None:
    client = client_as(make_user([ID]))
    # the test clock says 2026-01-05 (Beijing): born 2008-01-06 is one day short of 18
    r = _verify(client, make_id(birth="20080106"))
    assert r.status_code == 403
    assert r.json()["type"].endswith("/age-restricted")
    assert "18" in r.json()["detail"]
    assert identity_sandbox.count() == 0


def test_the_eighteenth_birthday_counts_in_beijing_time(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], clock: FrozenClock
) -> None:
    client = client_as(make_user([ID]))
    clock.set(datetime(2026, 1, 5, 15, 59, tzinfo=UTC))  # 23:59 on 5 January in Beijing
    assert _verify(client, make_id(birth="20080106")).status_code == 403
    clock.set(datetime(2026, 1, 5, 16, 0, tzinfo=UTC))  # 00:00 on 6 January in Beijing
    assert _verify(client, make_id(birth="20080106")).json()["status"] == "verified"


def test_min_age_setting_is_honoured(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    runtime: Runtime,
) -> None:
    runtime.settings.min_age = 16
    client = client_as(make_user([ID]))
    assert _verify(client, make_id(birth="20090101")).json()["status"] == "verified"  # 17
    other = client_as(make_user([ID]))
    assert _verify(other, make_id(birth="20110101")).status_code == 403  # 15


def test_under_14_is_refused_even_when_min_age_is_lower(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    runtime.settings.min_age = 0
    client = client_as(make_user([ID]))
    r = _verify(client, make_id(birth="20150101"))
    assert r.status_code == 403
    assert r.json()["type"].endswith("/age-restricted")
    assert "14" in r.json()["detail"]


def test_guardian_path_lets_a_child_verify_after_a_verified_guardian_confirms(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    runtime: Runtime,
) -> None:
    runtime.settings.guardian_path = True
    child_id = make_id(birth="20150601", seq="302")
    child = client_as(make_user([ID]))
    r = _verify(child, child_id, name="李小小")
    assert r.status_code == 403
    assert r.json()["type"].endswith("/guardian-consent-required")
    assert identity_sandbox.count() == 0

    created = child.post("/api/v1/identity/guardian-requests")
    assert created.status_code == 201
    code = created.json()["code"]

    guardian_user = make_user([ID])
    guardian = client_as(guardian_user)
    confirm = {"code": code, "child_id_number": child_id, "relationship": "parent"}
    r = guardian.post("/api/v1/identity/guardian-requests/confirm", json=confirm)
    assert r.status_code == 422  # the guardian must be verified first
    assert r.json()["reason"] == "guardian_unverified"
    assert _verify(guardian, ADULT).json()["status"] == "verified"
    r = child.post("/api/v1/identity/guardian-requests/confirm", json=confirm)
    assert r.status_code == 422 and r.json()["reason"] == "self"
    r = guardian.post("/api/v1/identity/guardian-requests/confirm", json=confirm)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"

    r = _verify(child, child_id, name="李小小")
    assert r.json()["status"] == "verified", r.text
    # the consent is bound to that child's ID number, and the code works once
    assert guardian.post("/api/v1/identity/guardian-requests/confirm", json=confirm).status_code == 422
    with runtime.transaction() as s:
        from qianshu.evidence import service as evidence_service

        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"user:{guardian_user}")]
    assert "identity.guardian_consent_given" in actions
    assert [g["role"] for g in guardian.get("/api/v1/identity/guardian-requests").json()] == ["guardian"]


def test_guardian_consent_is_bound_to_the_child_named_and_can_be_revoked(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    runtime.settings.guardian_path = True
    guardian = client_as(make_user([ID]))
    assert _verify(guardian, ADULT).json()["status"] == "verified"
    child = client_as(make_user([ID]))
    code = child.post("/api/v1/identity/guardian-requests").json()["code"]
    named, other = make_id(birth="20150601", seq="302"), make_id(birth="20160101", seq="402")
    r = guardian.post(
        "/api/v1/identity/guardian-requests/confirm", json={"code": code, "child_id_number": named}
    )
    request_id = r.json()["id"]
    assert _verify(child, other, name="李小二").json()["type"].endswith("/guardian-consent-required")
    assert (
        guardian.post(f"/api/v1/identity/guardian-requests/{request_id}/revoke").json()["status"] == "revoked"
    )
    assert _verify(child, named, name="李小小").json()["type"].endswith("/guardian-consent-required")


def test_guardian_cannot_confirm_for_an_adult_or_be_a_minor(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    runtime.settings.guardian_path = True
    guardian = client_as(make_user([ID]))
    assert _verify(guardian, ADULT).json()["status"] == "verified"
    child = client_as(make_user([ID]))
    code = child.post("/api/v1/identity/guardian-requests").json()["code"]
    r = guardian.post(
        "/api/v1/identity/guardian-requests/confirm", json={"code": code, "child_id_number": ADULT}
    )
    assert r.json()["reason"] == "child_adult"
    r = guardian.post(
        "/api/v1/identity/guardian-requests/confirm", json={"code": "G-nope", "child_id_number": ADULT}
    )
    assert r.json()["reason"] == "code"
    with runtime.transaction() as s:
        guardian_id = guardian.app.principal.user_id  # type: ignore[attr-defined]
        assert identity_service.list_guardian_requests(session=s, user_id=guardian_id) == []
