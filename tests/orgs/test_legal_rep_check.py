"""The legal representative checked by the real identity service, through the sandbox provider over HTTP.

The other orgs tests use a stand-in for the identity service; here `check_name_and_id` is the
identity domain's own, its adapter talking to the sandbox provider mounted on a live server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, LiveServer, User, id_number, problem


@pytest.fixture
def real_identity_check(monkeypatch: pytest.MonkeyPatch, runtime: Runtime, live_server: LiveServer) -> Iterator[None]:
    from qianshu.identity import service as identity_service
    from qianshu.identity import third_party

    monkeypatch.setattr(identity_service, "check_name_and_id", third_party.check_name_and_id)
    runtime.settings.identity_url = f"{live_server.url}/sandbox/identity"
    runtime.settings.identity_retries = 0
    runtime.settings.identity_timeout_seconds = 30.0  # generous: CI machines run many suites at once
    yield


def _sharing(runtime: Runtime, org_id: str) -> list[Any]:
    from qianshu.privacy import service as privacy_service

    with runtime.transaction() as s:
        return privacy_service.list_sharing(session=s, subject_id=org_id)


def _put(owner: User, org_id: str, number: str, name: str = "王五") -> Any:
    return owner.api.put(
        f"/api/v1/orgs/{org_id}/legal-rep", json={"name": name, "id_number": number, "authorised": True}
    )


@pytest.mark.usefixtures("real_identity_check")
def test_legal_rep_passes_the_providers_two_element_check(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner)
    r = _put(owner, org["id"], id_number("123"))
    assert r.status_code == 200, r.text
    assert r.json()["steps"]["legal_rep"] == "verified"
    assert r.json()["steps"]["legal_rep_method"] == "identity_check"
    (entry,) = _sharing(runtime, org["id"])
    assert entry.recipient_kind == "identity_provider" and sorted(entry.fields) == ["id_number", "name"]


@pytest.mark.usefixtures("real_identity_check")
def test_a_mismatch_is_refused_but_the_call_stays_in_the_register(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner)
    problem(_put(owner, org["id"], id_number("991")), 422, "legal-rep-check-failed")
    state = owner.api.get(f"/api/v1/orgs/{org['id']}").json()
    assert state["steps"]["legal_rep"] == "missing" and state["legal_rep_name"] is None
    assert len(_sharing(runtime, org["id"])) == 1


@pytest.mark.usefixtures("real_identity_check")
def test_a_provider_outage_is_a_clear_503_and_leaves_the_legal_rep_unverified(
    flow: Flow, make_user: Any, runtime: Runtime
) -> None:
    owner = make_user()
    org = flow.create(owner)
    body = problem(_put(owner, org["id"], id_number("998")), 503, "identity-provider-unavailable")
    assert "稍后再试" in body["detail"]
    state = owner.api.get(f"/api/v1/orgs/{org['id']}").json()
    assert state["steps"]["legal_rep"] == "missing" and state["status"] != "verified"


@pytest.mark.usefixtures("real_identity_check")
def test_a_wrong_check_character_is_refused_before_the_provider(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner)
    good = id_number("123")
    bad = good[:17] + ("1" if good[17] == "0" else "0")
    problem(_put(owner, org["id"], bad), 422, "invalid-id-number")
    assert _sharing(runtime, org["id"]) == []
