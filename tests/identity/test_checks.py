"""Each level through the sandbox provider over real HTTP; time-outs, retries, the breaker, sharing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from qianshu.identity.providers import (
    FaceMatcher,
    HttpFaceMatcher,
    HttpIdentityChecker,
    IdentityChecker,
    circuit_breaker,
    face_matcher,
    identity_checker,
)
from tests.identity.conftest import NAME, card_number, image_bytes, make_id
from tests.identity.loopback import IdentitySandbox

ID = "sensitive.id_number"
CARD = "sensitive.bank_card"
FACE = "sensitive.face"
PHONE = "13812345678"
WRONG_CHECK = make_id()[:17] + ("1" if make_id()[17] == "0" else "0")


def _start(client: TestClient, level: str, consents: list[str] | None = None) -> str:
    r = client.post("/api/v1/identity/verifications", json={"level": level, "consents": consents or []})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _submit(client: TestClient, vid: str, **fields: Any) -> Any:
    body = {"name": NAME, "id_number": make_id(), **fields}
    return client.post(f"/api/v1/identity/verifications/{vid}/elements", json=body)


def _face(client: TestClient, vid: str, id_number: str | None = None, photo: bytes | None = None) -> Any:
    return client.post(
        f"/api/v1/identity/verifications/{vid}/face",
        data={"name": NAME, "id_number": id_number or make_id()},
        files={"photo": ("me.jpg", photo if photo is not None else image_bytes(), "image/jpeg")},
    )


def _sharing(runtime: Runtime, user: str) -> list[Any]:
    with runtime.transaction() as s:
        return identity_service.list_sharing(session=s, subject_id=user)


def test_adapters_satisfy_their_protocols(runtime: Runtime) -> None:
    checker, matcher = identity_checker(runtime), face_matcher(runtime)
    assert isinstance(checker, HttpIdentityChecker) and isinstance(checker, IdentityChecker)
    assert isinstance(matcher, HttpFaceMatcher) and isinstance(matcher, FaceMatcher)


def test_two_elements_verifies_and_issues_a_certificate(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    runtime: Runtime,
) -> None:
    user = make_user()
    client = client_as(user)
    vid = _start(client, "two_elements", [ID])
    r = _submit(client, vid)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    assert identity_sandbox.count(vid) == 1
    overview = client.get("/api/v1/identity").json()
    assert overview["level"] == "two_elements"
    assert (overview["name_masked"], overview["id_number_masked"]) == (
        "张*",
        "1101**********" + make_id()[-4:],
    )
    assert overview["certificate_id"]
    assert overview["can_sign"] is False  # the default signing level is three elements
    with runtime.transaction() as s:
        assert identity_service.verified_name(session=s, user_id=user) == NAME
        from qianshu.pki import service as pki_service

        cert = pki_service.current_certificate_for(session=s, subject_id=user)
        assert cert is not None and cert.id == overview["certificate_id"]
    records = _sharing(runtime, user)
    assert len(records) == 1
    assert records[0].recipient_kind == "identity_provider"
    assert records[0].fields == ["id_number", "name"]
    assert records[0].legal_basis == "consent"
    assert records[0].object_id == vid


def test_three_elements_allows_signing(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    user = make_user([ID])
    client = client_as(user)
    vid = _start(client, "three_elements")
    r = _submit(client, vid, phone=PHONE)
    assert r.json()["status"] == "verified", r.text
    assert client.get("/api/v1/identity").json()["can_sign"] is True
    with runtime.transaction() as s:
        assert identity_service.require_signing_identity(session=s, user_id=user).level == "three_elements"
    assert _sharing(runtime, user)[0].fields == ["id_number", "name", "phone"]


def test_three_elements_phone_not_registered_fails_with_an_actionable_reason(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    client = client_as(make_user([ID]))
    vid = _start(client, "three_elements")
    r = _submit(client, vid, phone=PHONE, id_number=make_id(seq="992"))
    body = r.json()
    assert (body["status"], body["failure_reason"]) == ("failed", "mismatch_phone")
    assert "本人" in body["message"]
    with runtime.transaction() as s:
        assert identity_service.get_identity(session=s, user_id=client.headers and _user(client)) is None


def _user(client: TestClient) -> str:
    return str(client.app.principal.user_id)  # type: ignore[attr-defined]


def test_four_elements_needs_the_bank_card_consent_then_verifies(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    user = make_user([ID])
    client = client_as(user)
    r = client.post("/api/v1/identity/verifications", json={"level": "four_elements"})
    assert r.status_code == 403
    assert r.json()["type"].endswith("/consent-required")
    assert r.json()["missing_purposes"] == [CARD]
    vid = _start(client, "four_elements", [CARD])
    r = _submit(client, vid, phone=PHONE, bank_card=card_number())
    assert r.json()["status"] == "verified", r.text
    assert client.get("/api/v1/identity").json()["level"] == "four_elements"
    assert _sharing(runtime, user)[0].fields == ["bank_card", "id_number", "name", "phone"]


def test_four_elements_card_mismatch(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user([ID, CARD]))
    vid = _start(client, "four_elements")
    r = _submit(client, vid, phone=PHONE, bank_card=card_number(), id_number=make_id(seq="993"))
    assert r.json()["failure_reason"] == "mismatch_bank_card"


def test_face_check_verifies_over_multipart(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    runtime: Runtime,
) -> None:
    user = make_user([ID, FACE])
    client = client_as(user)
    vid = _start(client, "face")
    r = _face(client, vid, photo=image_bytes("PNG"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    assert client.get("/api/v1/identity").json()["level"] == "face"
    assert identity_sandbox.provider.calls[-1].endpoint == "face"
    assert _sharing(runtime, user)[0].fields == ["face_image", "id_number", "name"]


def test_face_low_score_fails(make_user: Callable[..., str], client_as: Callable[..., TestClient]) -> None:
    client = client_as(make_user([ID, FACE]))
    vid = _start(client, "face")
    r = _face(client, vid, id_number=make_id(seq="994"))
    assert (r.json()["status"], r.json()["failure_reason"]) == ("failed", "face_mismatch")


def test_face_upload_must_be_an_image_of_bounded_size(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], identity_sandbox: IdentitySandbox
) -> None:
    client = client_as(make_user([ID, FACE]))
    vid = _start(client, "face")
    r = _face(client, vid, photo=b"%PDF-1.7 not an image")
    assert r.status_code == 422
    assert r.json()["type"].endswith("/invalid-image")
    big = b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024 + 1)
    r = _face(client, vid, photo=big)
    assert r.status_code == 413
    assert identity_sandbox.count() == 0
    assert client.get(f"/api/v1/identity/verifications/{vid}").json()["status"] == "awaiting_elements"


@pytest.mark.parametrize(
    ("fields", "slug"),
    [
        ({"id_number": "11010519491231002"}, "invalid-id-number"),
        ({"id_number": WRONG_CHECK}, "invalid-id-number"),
        ({"name": "张3"}, "invalid-name"),
        ({"phone": "12345"}, "invalid-mobile"),
    ],
)
def test_bad_input_is_refused_before_the_provider(
    fields: dict[str, str],
    slug: str,
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
) -> None:
    client = client_as(make_user([ID]))
    vid = _start(client, "three_elements")
    r = _submit(client, vid, **({"phone": PHONE} | fields))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/" + slug)
    assert r.json()["reason"]
    assert identity_sandbox.count() == 0


def test_bad_bank_card_is_refused(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user([ID, CARD]))
    vid = _start(client, "four_elements")
    good = card_number()
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    r = _submit(client, vid, phone=PHONE, bank_card=bad)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/invalid-bank-card")


def test_time_out_leaves_it_pending_and_a_job_retries(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    runtime: Runtime,
) -> None:
    user = make_user([ID])
    client = client_as(user)
    vid = _start(client, "two_elements")
    r = _submit(client, vid, id_number=make_id(seq="997"))  # the sandbox stalls for a minute
    body = r.json()
    assert (body["status"], body["attempts"]) == ("pending", 1), body
    assert "自动重试" in body["message"]
    with runtime.transaction() as s:
        assert identity_service.get_identity(session=s, user_id=user) is None
    assert run_jobs() == 0  # not due yet
    clock.advance(timedelta(seconds=31))
    assert run_jobs() == 1  # still stalling: pending, next try in a minute
    body = client.get(f"/api/v1/identity/verifications/{vid}").json()
    assert (body["status"], body["attempts"]) == ("pending", 2)
    clock.advance(timedelta(seconds=61))
    assert run_jobs() == 1
    body = client.get(f"/api/v1/identity/verifications/{vid}").json()
    assert (body["status"], body["attempts"]) == ("verified", 3)
    # each call tried twice while the sandbox stalled (in-call retry), then one answered request
    assert identity_sandbox.count(vid) == 5
    assert len(_sharing(runtime, user)) == 3


def test_provider_error_is_retried_until_it_gives_up_but_never_verifies(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    clock: FrozenClock,
    run_jobs: Callable[[], int],
    runtime: Runtime,
) -> None:
    user = make_user([ID])
    client = client_as(user)
    vid = _start(client, "two_elements")
    assert _submit(client, vid, id_number=make_id(seq="998")).json()["status"] == "pending"
    for _ in range(10):
        clock.advance(timedelta(hours=1, seconds=1))
        run_jobs()
    body = client.get(f"/api/v1/identity/verifications/{vid}").json()
    assert (body["status"], body["failure_reason"]) == ("failed", "provider_unavailable")
    assert body["attempts"] == runtime.settings.identity_max_attempts
    with runtime.transaction() as s:
        assert identity_service.get_identity(session=s, user_id=user) is None


def test_circuit_breaker_opens_after_n_failures_then_lets_a_trial_through(
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
    identity_sandbox: IdentitySandbox,
    clock: FrozenClock,
    runtime: Runtime,
) -> None:
    breaker = circuit_breaker(runtime)
    for _ in range(3):  # identity_breaker_failures = 3 in these tests
        client = client_as(make_user([ID]))
        vid = _start(client, "two_elements")
        assert _submit(client, vid, id_number=make_id(seq="998")).json()["status"] == "pending"
    assert breaker.state == "open"
    sent = identity_sandbox.count()
    user = make_user([ID])
    client = client_as(user)
    vid = _start(client, "two_elements")
    body = _submit(client, vid).json()
    assert body["status"] == "pending"  # refused at once: nothing sent, nothing shared
    assert identity_sandbox.count() == sent
    assert _sharing(runtime, user) == []
    clock.advance(timedelta(seconds=61))
    assert breaker.state == "half_open"
    client2 = client_as(make_user([ID]))
    vid2 = _start(client2, "two_elements")
    assert _submit(client2, vid2).json()["status"] == "verified"
    assert breaker.state == "closed"


def test_mismatch_and_no_record_fail_without_storing_elements(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    client = client_as(make_user([ID]))
    vid = _start(client, "two_elements")
    body = _submit(client, vid, id_number=make_id(seq="991")).json()
    assert body["failure_reason"] == "mismatch_name"
    vid = _start(client, "two_elements")
    body = _submit(client, vid, id_number=make_id(seq="990")).json()
    assert body["failure_reason"] == "no_record"
    from sqlalchemy import text

    with runtime.transaction() as s:
        leftovers = s.execute(
            text(
                "SELECT count(*) FROM identity_verification"
                " WHERE name_enc IS NOT NULL OR id_number_enc IS NOT NULL"
            )
        ).scalar_one()
    assert leftovers == 0


def test_one_document_verifies_one_account(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], identity_sandbox: IdentitySandbox
) -> None:
    first = client_as(make_user([ID]))
    assert _submit(first, _start(first, "two_elements")).json()["status"] == "verified"
    second = client_as(make_user([ID]))
    vid = _start(second, "two_elements")
    before = identity_sandbox.count()
    r = _submit(second, vid)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/identity-taken")
    assert identity_sandbox.count() == before


def test_raising_the_level_keeps_the_document_and_the_certificate(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user([ID]))
    assert _submit(client, _start(client, "two_elements")).json()["status"] == "verified"
    cert = client.get("/api/v1/identity").json()["certificate_id"]
    other = make_id(birth="19850101")
    r = _submit(client, _start(client, "three_elements"), phone=PHONE, id_number=other)
    assert r.json()["type"].endswith("/identity-mismatch")
    assert _submit(client, _start(client, "three_elements"), phone=PHONE).json()["status"] == "verified"
    overview = client.get("/api/v1/identity").json()
    assert (overview["level"], overview["certificate_id"]) == ("three_elements", cert)


def test_a_second_start_while_pending_is_refused_and_cancel_erases(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    client = client_as(make_user([ID]))
    vid = _start(client, "two_elements")
    assert _submit(client, vid, id_number=make_id(seq="999")).json()["status"] == "pending"
    r = client.post("/api/v1/identity/verifications", json={"level": "two_elements"})
    assert r.status_code == 409
    r = client.post(f"/api/v1/identity/verifications/{vid}/cancel")
    assert (r.json()["status"], r.json()["failure_reason"]) == ("cancelled", "cancelled")
    from sqlalchemy import text

    with runtime.transaction() as s:
        row = s.execute(
            text("SELECT name_enc, id_number_enc FROM identity_verification WHERE id = :id"), {"id": vid}
        )
        assert row.one() == (None, None)
    assert client.post(f"/api/v1/identity/verifications/{vid}/cancel").status_code == 409


def test_other_peoples_verifications_are_not_found(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    owner = client_as(make_user([ID]))
    vid = _start(owner, "two_elements")
    stranger = client_as(make_user([ID]))
    assert stranger.get(f"/api/v1/identity/verifications/{vid}").status_code == 404
    assert _submit(stranger, vid).status_code == 404


def test_signed_out_requests_get_401(client: TestClient) -> None:
    r = client.get("/api/v1/identity")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_submissions_are_rate_limited_per_person_but_typos_do_not_count(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    runtime.settings.identity_max_checks_per_day = 2
    client = client_as(make_user([ID]))
    for _ in range(3):
        assert _submit(client, _start(client, "two_elements"), id_number="123").status_code == 422
    for _ in range(2):
        assert (
            _submit(client, _start(client, "two_elements"), id_number=make_id(seq="990")).status_code == 200
        )
    r = _submit(client, _start(client, "two_elements"))
    assert r.status_code == 429
    assert r.headers["retry-after"]


def test_a_cancelled_account_frees_its_document(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    first_user = make_user([ID])
    first = client_as(first_user)
    assert _submit(first, _start(first, "two_elements")).json()["status"] == "verified"
    with runtime.transaction() as s:
        from qianshu.vault import service as vault_service

        vault_service.destroy_data_key(session=s, clock=runtime.clock, subject_id=first_user)
    second = client_as(make_user([ID]))
    assert _submit(second, _start(second, "two_elements")).json()["status"] == "verified"


def test_matches_verified_identity_only_for_the_persons_own_name_and_number(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    user = make_user()
    client = client_as(user)
    with runtime.transaction() as s:
        assert not identity_service.matches_verified_identity(
            session=s, user_id=user, name=NAME, id_number=make_id()
        )  # not verified yet
    assert _submit(client, _start(client, "two_elements", [ID])).json()["status"] == "verified"
    own = make_id()
    with runtime.transaction() as s:
        check = identity_service.matches_verified_identity
        assert check(session=s, user_id=user, name=NAME, id_number=own)
        assert check(session=s, user_id=user, name=NAME, id_number=own.lower())  # x accepted
        assert not check(session=s, user_id=user, name="李四", id_number=own)
        assert not check(session=s, user_id=user, name=NAME, id_number=make_id(seq="125"))
        assert not check(session=s, user_id=user, name=NAME, id_number="not a number")
