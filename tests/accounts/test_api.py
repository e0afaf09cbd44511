"""The accounts REST API: registration, login, sessions, profile, password and contact changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.accounts.conftest import EMAIL, PASSWORD, PHONE, Outbox, csrf

PROBLEM = "application/problem+json"


def _problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["type"] == f"https://qianshu.dev/problems/{slug}", body
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: Any, login: str = PHONE, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/sessions", json={"login": login, "password": password}, headers=csrf(client))


# --- registration ---------------------------------------------------------------------------


def test_register_by_phone_creates_the_user_and_a_session(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox
) -> None:
    body = register(display_name="张三丰")
    assert body["token"].startswith("qss_") and body["token_type"] == "bearer"
    assert body["user"]["phone"] == "138****5678" and body["user"]["display_name"] == "张**"
    assert body["user"]["email"] is None and body["session"]["current"] is True
    assert outbox.sent[0].template == "otp_register" and outbox.sent[0].params["minutes"] == 5
    assert outbox.sent[0].subject_id == "sys_platform"
    assert client.cookies.get("qs_session") == body["token"]
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]


def test_register_by_email(client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox) -> None:
    body = register(phone=None, email="Zhang.San@Example.com")
    assert body["user"]["email"] == "z***@example.com"
    assert outbox.sent[-1].channel == "email" and outbox.sent[-1].to == "zhang.san@example.com"


def test_registration_records_policy_acceptance_and_audit(
    client: Any, register: Callable[..., dict[str, Any]], runtime: Runtime
) -> None:
    from qianshu.evidence import service as evidence_service
    from qianshu.privacy import service as privacy_service

    user_id = register()["user"]["id"]
    with runtime.transaction() as s:
        assert privacy_service.needs_reconsent(session=s, user_id=user_id) is False
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"user:{user_id}")]
    assert {"account.registered", "privacy.policy_accepted", "account.login"} <= set(actions)


def test_duplicate_registration_is_told_only_after_the_code(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox, policy_version: str
) -> None:
    register()
    client.cookies.clear()
    r = client.post("/api/v1/accounts/register/start", json={"phone": PHONE})
    assert r.status_code == 202  # same answer as for a free number
    wrong = client.post(
        "/api/v1/accounts/register/complete",
        json={
            "phone": PHONE,
            "code": "000000" if outbox.last_code() != "000000" else "111111",
            "password": PASSWORD,
            "accept_policy_version": policy_version,
        },
    )
    _problem(wrong, 422, "code-invalid")
    r = client.post(
        "/api/v1/accounts/register/complete",
        json={
            "phone": PHONE,
            "code": outbox.last_code(),
            "password": PASSWORD,
            "accept_policy_version": policy_version,
        },
    )
    _problem(r, 409, "contact-taken")


def test_registration_needs_the_current_policy(
    client: Any, outbox: Outbox, runtime: Runtime, policy_version: str
) -> None:
    client.post("/api/v1/accounts/register/start", json={"phone": PHONE})
    body = {
        "phone": PHONE,
        "code": outbox.last_code(),
        "password": PASSWORD,
        "accept_policy_version": "0.0-old",
    }
    _problem(client.post("/api/v1/accounts/register/complete", json=body), 422, "policy-not-accepted")
    body["accept_policy_version"] = policy_version  # the code was not used up by the refusal
    assert client.post("/api/v1/accounts/register/complete", json=body).status_code == 201


def test_weak_password_is_refused_before_the_code_is_spent(
    client: Any, outbox: Outbox, policy_version: str
) -> None:
    client.post("/api/v1/accounts/register/start", json={"phone": PHONE})
    body = {
        "phone": PHONE,
        "code": outbox.last_code(),
        "password": "password1",
        "accept_policy_version": policy_version,
    }
    problem = _problem(client.post("/api/v1/accounts/register/complete", json=body), 422, "weak-password")
    assert problem["reason"] == "common"
    body["password"] = PHONE + "x"
    assert (
        _problem(client.post("/api/v1/accounts/register/complete", json=body), 422, "weak-password")["reason"]
        == "contains_contact"
    )
    body["password"] = PASSWORD
    assert client.post("/api/v1/accounts/register/complete", json=body).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"phone": "12345"}, 422, "invalid-phone"),
        ({"email": "not-an-address"}, 422, "invalid-email"),
        ({"phone": PHONE, "email": EMAIL}, 422, "invalid-input"),
        ({}, 422, "invalid-input"),
        ({"phone": PHONE, "extra": 1}, 422, "invalid-input"),
        ({"phone": ["13812345678"]}, 422, "invalid-input"),
        ({"phone": "1" * 5000}, 422, "invalid-input"),
    ],
)
def test_register_start_refuses_bad_input(client: Any, body: dict[str, Any], status: int, slug: str) -> None:
    _problem(client.post("/api/v1/accounts/register/start", json=body), status, slug)


def test_malformed_and_oversized_json_get_problems(client: Any, runtime: Runtime) -> None:
    r = client.post(
        "/api/v1/accounts/register/start", content=b"{not json", headers={"content-type": "application/json"}
    )
    _problem(r, 400, "bad-request")
    big = b'{"phone": "' + b"1" * (runtime.settings.max_json_bytes + 10) + b'"}'
    r = client.post(
        "/api/v1/accounts/register/start", content=big, headers={"content-type": "application/json"}
    )
    _problem(r, 413, "payload-too-large")
    r = client.post("/api/v1/sessions", content=b"login=a&password=b", headers={"content-type": "text/plain"})
    assert 400 <= r.status_code < 500


def test_wrong_expired_and_reused_codes(
    client: Any, outbox: Outbox, policy_version: str, clock: FrozenClock
) -> None:
    client.post("/api/v1/accounts/register/start", json={"phone": PHONE})
    code = outbox.last_code()
    body = {"phone": PHONE, "code": "12ab56", "password": PASSWORD, "accept_policy_version": policy_version}
    _problem(client.post("/api/v1/accounts/register/complete", json=body), 422, "code-malformed")
    clock.advance(timedelta(minutes=5, seconds=1))
    body["code"] = code
    _problem(client.post("/api/v1/accounts/register/complete", json=body), 422, "code-expired")
    client.post("/api/v1/accounts/register/start", json={"phone": PHONE})
    body["code"] = outbox.last_code()
    assert (
        client.post("/api/v1/accounts/register/complete", json=body, headers=csrf(client)).status_code == 201
    )
    client.cookies.clear()
    _problem(client.post("/api/v1/accounts/register/complete", json=body), 422, "code-expired")


def test_resend_too_soon_is_429_with_retry_after(client: Any) -> None:
    assert client.post("/api/v1/accounts/register/start", json={"phone": PHONE}).status_code == 202
    r = client.post("/api/v1/accounts/register/start", json={"phone": PHONE})
    _problem(r, 429, "code-resend-too-soon")
    assert 0 < int(r.headers["retry-after"]) <= 60


# --- login ----------------------------------------------------------------------------------


def test_password_login_by_phone_or_email(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    register(phone=None, email=EMAIL)
    client.cookies.clear()
    r = _login(client, login="ZHANG.SAN@example.com")
    assert r.status_code == 201 and r.json()["session"]["method"] == "password"
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    assert "httponly" in cookies["qs_session"] and "samesite=lax" in cookies["qs_session"]
    assert "httponly" in cookies["qs_csrf"]  # a fresh CSRF token with every login


def test_wrong_password_and_unknown_login_look_the_same(
    client: Any, register: Callable[..., dict[str, Any]]
) -> None:
    register()
    client.cookies.clear()
    known = _problem(_login(client, password="Wrong-pass-1"), 401, "invalid-credentials")
    unknown = _problem(
        _login(client, login="13900000000", password="Wrong-pass-1"), 401, "invalid-credentials"
    )
    assert known["detail"] == unknown["detail"] and known["attempts_left"] == unknown["attempts_left"] == 4


def test_lockout_after_repeated_failures_shows_the_unlock_time(
    client: Any, register: Callable[..., dict[str, Any]], clock: FrozenClock, runtime: Runtime
) -> None:
    from qianshu.evidence import service as evidence_service

    user_id = register()["user"]["id"]
    client.cookies.clear()
    for _ in range(runtime.settings.login_max_failures - 1):
        _problem(_login(client, password="Wrong-pass-1"), 401, "invalid-credentials")
    locked = _login(client, password="Wrong-pass-1")
    problem = _problem(locked, 429, "account-locked")
    unlock = clock.now() + timedelta(minutes=runtime.settings.login_lock_minutes)
    assert problem["unlock_at"] == unlock.isoformat()
    assert "10:15" in problem["detail"]  # 02:15 UTC is 10:15 in Beijing
    assert int(locked.headers["retry-after"]) == runtime.settings.login_lock_minutes * 60
    _problem(_login(client), 429, "account-locked")  # even the right password waits
    with runtime.transaction() as s:
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"user:{user_id}")]
    assert "account.locked" in actions
    clock.advance(timedelta(minutes=runtime.settings.login_lock_minutes))
    assert _login(client).status_code == 201


def test_unknown_logins_lock_exactly_like_real_ones(client: Any, runtime: Runtime) -> None:
    for _ in range(runtime.settings.login_max_failures - 1):
        _problem(_login(client, login="13900000000", password="Wrong-pass-1"), 401, "invalid-credentials")
    _problem(_login(client, login="13900000000", password="Wrong-pass-1"), 429, "account-locked")


def test_client_address_is_locked_after_many_failures(
    client: Any, settings_overrides: dict[str, Any]
) -> None:
    # ip_max_failures_per_hour defaults to 50; spread failures over many logins from one address.
    for i in range(50):
        r = _login(client, login=f"139{i:08d}", password="Wrong-pass-1")
        assert r.status_code in (401, 429)
    problem = _problem(_login(client, login="13700000000", password="Wrong-pass-1"), 429, "account-locked")
    assert problem["scope"] == "client"


def test_sms_login(client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox) -> None:
    register()
    client.cookies.clear()
    r = client.post("/api/v1/sessions/sms/start", json={"phone": "+86 138 1234 5678"})
    assert r.status_code == 202 and r.json()["sent_to"] == "138****5678"
    assert outbox.sent[-1].template == "otp_login" and outbox.sent[-1].subject_id != "sys_platform"
    r = client.post("/api/v1/sessions/sms", json={"phone": PHONE, "code": outbox.last_code()})
    assert r.status_code == 201 and r.json()["session"]["method"] == "sms"


def test_sms_login_for_an_unknown_number_sends_nothing_and_looks_the_same(
    client: Any, outbox: Outbox
) -> None:
    r = client.post("/api/v1/sessions/sms/start", json={"phone": "13900000000"})
    assert r.status_code == 202 and r.json()["sent_to"] == "139****0000"
    assert outbox.sent == []
    _problem(
        client.post("/api/v1/sessions/sms", json={"phone": "13900000000", "code": "123456"}),
        422,
        "code-invalid",
    )
    _problem(
        client.post("/api/v1/sessions/sms/start", json={"phone": "13900000000"}), 429, "code-resend-too-soon"
    )


# --- sessions -------------------------------------------------------------------------------


def test_bearer_token_sessions_list_and_revoke(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    first = register()["token"]
    client.cookies.clear()
    second = _login(client).json()["token"]
    client.cookies.clear()
    listed = client.get("/api/v1/sessions", headers=_bearer(first)).json()
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    other_id = next(s["id"] for s in listed if not s["current"])
    assert client.delete(f"/api/v1/sessions/{other_id}", headers=_bearer(first)).status_code == 204
    _problem(client.get("/api/v1/me", headers=_bearer(second)), 401, "unauthenticated")
    _problem(client.delete(f"/api/v1/sessions/{other_id}", headers=_bearer(first)), 404, "session-not-found")
    assert client.delete("/api/v1/sessions/current", headers=_bearer(first)).status_code == 204
    _problem(client.get("/api/v1/me", headers=_bearer(first)), 401, "unauthenticated")


def test_log_out_all_other_devices(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    keep = register()["token"]
    client.cookies.clear()
    others = [_login(client).json()["token"] for _ in range(2)]
    client.cookies.clear()
    r = client.delete("/api/v1/sessions", headers=_bearer(keep))
    assert r.status_code == 200 and r.json() == {"revoked": 2}
    assert client.get("/api/v1/me", headers=_bearer(keep)).status_code == 200
    for token in others:
        assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 401


def test_other_users_sessions_cannot_be_revoked(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    alice = register()
    client.cookies.clear()
    bob = register(phone="13912345678")
    client.cookies.clear()
    r = client.delete(f"/api/v1/sessions/{alice['session']['id']}", headers=_bearer(bob["token"]))
    _problem(r, 404, "session-not-found")
    assert client.get("/api/v1/me", headers=_bearer(alice["token"])).status_code == 200


def test_sessions_expire(
    client: Any, register: Callable[..., dict[str, Any]], clock: FrozenClock, runtime: Runtime
) -> None:
    token = register()["token"]
    client.cookies.clear()
    clock.advance(timedelta(days=runtime.settings.session_days, seconds=1))
    _problem(client.get("/api/v1/me", headers=_bearer(token)), 401, "unauthenticated")


def test_garbage_tokens_are_just_unauthenticated(client: Any) -> None:
    for header in ("Bearer ", "Bearer x", "Bearer " + "x" * 5000, "Basic abc", "Bearer qss_nope"):
        _problem(client.get("/api/v1/me", headers={"Authorization": header}), 401, "unauthenticated")


def test_cookie_requests_need_the_csrf_header(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    register()
    r = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "Another-pass-9"}
    )
    _problem(r, 403, "csrf-failed")
    r = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "Another-pass-9"},
        headers=csrf(client),
    )
    assert r.status_code == 204


# --- passwords ------------------------------------------------------------------------------


def test_change_password_logs_out_other_devices(client: Any, register: Callable[..., dict[str, Any]]) -> None:
    token = register()["token"]
    client.cookies.clear()
    other = _login(client).json()["token"]
    client.cookies.clear()
    bad = client.post(
        "/api/v1/me/password",
        json={"current_password": "nope-nope-1", "new_password": "New-pass-77"},
        headers=_bearer(token),
    )
    _problem(bad, 401, "invalid-credentials")
    weak = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=_bearer(token),
    )
    _problem(weak, 422, "weak-password")
    same = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD},
        headers=_bearer(token),
    )
    _problem(same, 422, "weak-password")
    ok = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "New-pass-77"},
        headers=_bearer(token),
    )
    assert ok.status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    assert client.get("/api/v1/me", headers=_bearer(other)).status_code == 401
    assert _login(client, password="New-pass-77").status_code == 201


def test_password_reset(client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox) -> None:
    token = register()["token"]
    client.cookies.clear()
    r = client.post("/api/v1/accounts/password-reset/start", json={"login": PHONE})
    assert r.status_code == 202 and outbox.sent[-1].template == "otp_reset"
    body = {"login": PHONE, "code": outbox.last_code(), "password": "Brand-new-88"}
    assert client.post("/api/v1/accounts/password-reset/complete", json=body).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    assert _login(client, password=PASSWORD).status_code == 401
    assert _login(client, password="Brand-new-88").status_code == 201
    client.cookies.clear()
    _problem(client.post("/api/v1/accounts/password-reset/complete", json=body), 422, "code-expired")


def test_password_reset_lifts_a_lockout(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox, runtime: Runtime
) -> None:
    register()
    client.cookies.clear()
    for _ in range(runtime.settings.login_max_failures):
        _login(client, password="Wrong-pass-1")
    _problem(_login(client), 429, "account-locked")
    client.post("/api/v1/accounts/password-reset/start", json={"login": PHONE})
    body = {"login": PHONE, "code": outbox.last_code(), "password": "Brand-new-88"}
    assert client.post("/api/v1/accounts/password-reset/complete", json=body).status_code == 204
    assert _login(client, password="Brand-new-88").status_code == 201


def test_password_reset_for_unknown_login_looks_the_same(client: Any, outbox: Outbox) -> None:
    r = client.post("/api/v1/accounts/password-reset/start", json={"login": "nobody@example.com"})
    assert r.status_code == 202 and r.json()["sent_to"] == "n***@example.com" and outbox.sent == []
    body = {"login": "nobody@example.com", "code": "123456", "password": "Brand-new-88"}
    _problem(client.post("/api/v1/accounts/password-reset/complete", json=body), 422, "code-invalid")


# --- contact change -------------------------------------------------------------------------


def test_add_an_email_then_log_in_with_it(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox
) -> None:
    token = register()["token"]
    client.cookies.clear()
    auth = _bearer(token)
    bad = client.post(
        "/api/v1/me/contact/start", json={"email": EMAIL, "password": "wrong-pw-1"}, headers=auth
    )
    _problem(bad, 401, "invalid-credentials")
    r = client.post("/api/v1/me/contact/start", json={"email": EMAIL, "password": PASSWORD}, headers=auth)
    assert (
        r.status_code == 202
        and outbox.sent[-1].to == EMAIL
        and outbox.sent[-1].template == "otp_change_contact"
    )
    r = client.post(
        "/api/v1/me/contact/complete", json={"email": EMAIL, "code": outbox.last_code()}, headers=auth
    )
    assert (
        r.status_code == 200
        and r.json()["email"] == "z***@example.com"
        and r.json()["phone"] == "138****5678"
    )
    assert _login(client, login=EMAIL).status_code == 201


def test_contact_change_refuses_a_number_taken_by_someone_else(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox
) -> None:
    register(phone="13912345678")
    client.cookies.clear()
    token = register()["token"]
    client.cookies.clear()
    auth = _bearer(token)
    client.post("/api/v1/me/contact/start", json={"phone": "13912345678", "password": PASSWORD}, headers=auth)
    r = client.post(
        "/api/v1/me/contact/complete", json={"phone": "13912345678", "code": outbox.last_code()}, headers=auth
    )
    _problem(r, 409, "contact-taken")
    assert client.get("/api/v1/me", headers=auth).json()["phone"] == "138****5678"


def test_someone_elses_change_code_does_not_work(
    client: Any, register: Callable[..., dict[str, Any]], outbox: Outbox
) -> None:
    alice = register()["token"]
    client.cookies.clear()
    bob = register(phone="13912345678")["token"]
    client.cookies.clear()
    client.post(
        "/api/v1/me/contact/start", json={"email": EMAIL, "password": PASSWORD}, headers=_bearer(alice)
    )
    r = client.post(
        "/api/v1/me/contact/complete", json={"email": EMAIL, "code": outbox.last_code()}, headers=_bearer(bob)
    )
    _problem(r, 422, "code-expired")


# --- the re-consent gate and operators ------------------------------------------------------


def test_api_answers_policy_consent_required_after_a_major_update(
    client: Any, register: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qianshu.privacy import service as privacy_service

    token = register()["token"]
    client.cookies.clear()
    monkeypatch.setattr(privacy_service, "needs_reconsent", lambda *, session, user_id: True)
    problem = _problem(client.get("/api/v1/me", headers=_bearer(token)), 403, "policy-consent-required")
    assert problem["accept_url"] == "/privacy/accept"
    assert client.delete("/api/v1/sessions/current", headers=_bearer(token)).status_code == 204
