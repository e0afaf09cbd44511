"""Jobs: a deferred certificate is issued later; a pending check of an erased person stops."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from tests.identity.conftest import make_id
from tests.identity.loopback import IdentitySandbox

ID = "sensitive.id_number"


def _verify(client: TestClient, seq: str = "123") -> dict[str, object]:
    vid = client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    r = client.post(
        f"/api/v1/identity/verifications/{vid}/elements", json={"name": "张三", "id_number": make_id(seq=seq)}
    )
    body: dict[str, object] = r.json()
    return body


def test_certificate_is_issued_by_a_job_when_the_ca_fails(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    runtime: Runtime,
) -> None:
    from qianshu.pki import service as pki_service

    real = pki_service.issue_person_certificate

    def broken(**kwargs: object) -> object:
        raise pki_service.CustodyUnavailable("custody down", detail_en="custody down")

    monkeypatch.setattr(pki_service, "issue_person_certificate", broken)
    user = make_user([ID])
    client = client_as(user)
    assert _verify(client)["status"] == "verified"  # the verification stands
    assert client.get("/api/v1/identity").json()["certificate_id"] is None
    monkeypatch.setattr(pki_service, "issue_person_certificate", real)
    clock.advance(timedelta(minutes=5))
    assert run_jobs() >= 1
    cert_id = client.get("/api/v1/identity").json()["certificate_id"]
    assert cert_id
    with runtime.transaction() as s:
        assert identity_service.ensure_certificate(session=s, clock=clock, user_id=user) == cert_id


def test_pending_check_of_an_erased_person_is_cancelled(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    runtime: Runtime,
) -> None:
    from qianshu.vault import service as vault_service

    user = make_user([ID])
    client = client_as(user)
    pending = _verify(client, seq="999")
    assert pending["status"] == "pending"
    calls = identity_sandbox.count()
    with runtime.transaction() as s:
        vault_service.destroy_data_key(session=s, clock=clock, subject_id=user)
    clock.advance(timedelta(minutes=2))
    run_jobs()
    assert identity_sandbox.count() == calls
    with runtime.transaction() as s:
        row = identity_service.list_verifications(session=s, user_id=user)[0]
    assert (row.status, row.failure_reason) == ("cancelled", "data_erased")


def test_breaker_pushes_the_retry_past_its_reset(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    runtime: Runtime,
) -> None:
    for _ in range(3):
        _verify(client_as(make_user([ID])), seq="998")
    client = client_as(make_user([ID]))
    body = _verify(client)
    assert body["status"] == "pending"
    next_at = body["next_attempt_at"]
    assert isinstance(next_at, str)
    from qianshu.identity.providers import circuit_breaker

    reopen = circuit_breaker(runtime).open_until
    assert reopen is not None and next_at.startswith(reopen.strftime("%Y-%m-%dT%H:%M"))
