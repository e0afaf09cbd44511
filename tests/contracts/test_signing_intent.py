"""C4: the signer confirms the intent to sign (签署意愿) by a fresh code or a signing password (签署密码).

The signing password is set on the account (login password required), stored as argon2id, counted
and locked after repeated failures; the operator chooses the allowed methods; the contract's trail
records which method confirmed intent, never the secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from qianshu.accounts import service as accounts_service
from qianshu.accounts.errors import (
    InvalidCredentials,
    SigningPasswordLocked,
    SigningPasswordNotSet,
    SigningPasswordWrong,
    WeakPassword,
)
from qianshu.accounts.models import User
from qianshu.core.auth import Principal
from qianshu.core.runtime import Runtime
from tests.contracts.conftest import PASSWORD, Sent
from tests.contracts.test_api import _problem, _sent, _signer

SENDER, SIGNER = "13900139000", "13800138001"
SIGNING_PASSWORD = "852963"
HTML = {"accept": "text/html"}


def _principal(user_id: str) -> Principal:
    return Principal(user_id=user_id, role="user", session_id="ses_test")


def _set(runtime: Runtime, user_id: str, new: str, current: str = PASSWORD) -> None:
    with runtime.transaction() as s:
        accounts_service.set_signing_password(
            session=s,
            clock=runtime.clock,
            principal=_principal(user_id),
            current_password=current,
            signing_password=new,
        )


def _verify(runtime: Runtime, user_id: str, password: str) -> None:
    with runtime.transaction() as s:
        accounts_service.verify_signing_password(session=s, clock=runtime.clock, user_id=user_id, password=password)


def _user_events(runtime: Runtime, user_id: str) -> list[Any]:
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        return list(evidence_service.list_events(session=s, stream=f"user:{user_id}"))


def _contract_events(runtime: Runtime, contract_id: str) -> list[Any]:
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        return list(evidence_service.list_events(session=s, stream=f"contract:{contract_id}"))


# --- accounts: set, change, remove, verify, lock --------------------------------------------------


def test_signing_password_is_set_hashed_checked_and_locked(
    runtime: Runtime, make_person: Callable[..., str], clock: Any
) -> None:
    user_id = make_person(SIGNER)
    with pytest.raises(SigningPasswordNotSet):
        _verify(runtime, user_id, SIGNING_PASSWORD)
    with pytest.raises(InvalidCredentials):
        _set(runtime, user_id, SIGNING_PASSWORD, current="not-the-login-password")
    for weak in ("12345", "111111", "123456", PASSWORD, "x" * 65, "12\x0034567"):
        with pytest.raises(WeakPassword):
            _set(runtime, user_id, weak)
    assert not _has(runtime, user_id)

    _set(runtime, user_id, SIGNING_PASSWORD)
    assert _has(runtime, user_id)
    with runtime.transaction() as s:
        stored = s.get(User, user_id)
        assert stored is not None and stored.signing_password_hash is not None
        assert (
            stored.signing_password_hash.startswith("$argon2id$")
            and SIGNING_PASSWORD not in stored.signing_password_hash
        )
    _verify(runtime, user_id, SIGNING_PASSWORD)

    limit = runtime.settings.signing_password_max_failures
    for _ in range(limit - 1):
        with pytest.raises(SigningPasswordWrong):
            _verify(runtime, user_id, "wrong-one")
    with pytest.raises(SigningPasswordLocked) as locked:
        _verify(runtime, user_id, "wrong-one")
    assert locked.value.retry_after == runtime.settings.signing_password_lock_minutes * 60
    with pytest.raises(SigningPasswordLocked):  # even the right one, while locked
        _verify(runtime, user_id, SIGNING_PASSWORD)
    # the login is not locked by signing-password failures
    with runtime.transaction() as s:
        accounts_service.login_with_password(session=s, clock=runtime.clock, login=SIGNER, password=PASSWORD)
    clock.advance(timedelta(minutes=runtime.settings.signing_password_lock_minutes))
    _verify(runtime, user_id, SIGNING_PASSWORD)

    _set(runtime, user_id, "new-signing-pw")
    with pytest.raises(SigningPasswordWrong):
        _verify(runtime, user_id, SIGNING_PASSWORD)
    with runtime.transaction() as s:
        accounts_service.remove_signing_password(
            session=s, clock=runtime.clock, principal=_principal(user_id), current_password=PASSWORD
        )
    assert not _has(runtime, user_id)

    events = _user_events(runtime, user_id)
    actions = [e.action for e in events]
    for action in (
        "account.signing_password_set",
        "account.signing_password_failed",
        "account.signing_password_locked",
        "account.signing_password_changed",
        "account.signing_password_removed",
    ):
        assert action in actions, actions
    dumped = json.dumps([getattr(e, "data", None) for e in events], default=str)
    assert SIGNING_PASSWORD not in dumped and "new-signing-pw" not in dumped and "wrong-one" not in dumped


def _has(runtime: Runtime, user_id: str) -> bool:
    with runtime.transaction() as s:
        return accounts_service.has_signing_password(session=s, user_id=user_id)


# --- the API: sign with the signing password; bad input as problem+json --------------------------


def test_api_signs_with_the_signing_password_and_records_the_method(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, sent: Sent
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    signer = api(SIGNER)
    url = f"/api/v1/sign/{links[SIGNER]}/sign"

    _problem(signer.post(url, json={"intent_method": "password", "password": SIGNING_PASSWORD}), 422, "not-set")
    _problem(signer.post(url, json={"intent_method": "face"}), 422)
    _problem(signer.post(url, json={"intent_method": "password"}), 422)
    _problem(signer.post(url, json={}), 422)  # no code either

    r = signer.put(
        "/api/v1/me/signing-password", json={"current_password": "wrong", "signing_password": SIGNING_PASSWORD}
    )
    _problem(r, 401, "invalid-credentials")
    r = signer.put("/api/v1/me/signing-password", json={"current_password": PASSWORD, "signing_password": "123"})
    _problem(r, 422)
    r = signer.put(
        "/api/v1/me/signing-password", json={"current_password": PASSWORD, "signing_password": SIGNING_PASSWORD}
    )
    assert r.status_code == 204, r.text

    body = _problem(signer.post(url, json={"intent_method": "password", "password": "000000"}), 422, "wrong")
    assert "签署密码" in body["detail"] or "signing password" in body["detail"].lower()
    assert signer.get(f"/api/v1/sign/{links[SIGNER]}").json()["recipient"]["status"] != "signed"

    done = signer.post(url, json={"intent_method": "password", "password": SIGNING_PASSWORD})
    assert done.status_code == 200 and done.json()["status"] == "completed", done.text

    events = _contract_events(runtime, contract_id)
    confirmed = [e for e in events if e.action == "contract.intent_confirmed"]
    assert len(confirmed) == 1 and confirmed[0].data == {"method": "password"}
    actions = [e.action for e in events]
    assert actions.index("contract.intent_confirmed") < actions.index("contract.signed")
    assert SIGNING_PASSWORD not in json.dumps([e.data for e in events], default=str)


def test_api_locks_the_signing_password_and_a_code_still_works(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, sent: Sent
) -> None:
    make_person(SENDER, verified=False)
    user_id = make_person(SIGNER, name="李四")
    _set(runtime, user_id, SIGNING_PASSWORD)
    _contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    signer = api(SIGNER)
    url = f"/api/v1/sign/{links[SIGNER]}/sign"
    for _ in range(runtime.settings.signing_password_max_failures - 1):
        _problem(signer.post(url, json={"intent_method": "password", "password": "bad-pass"}), 422, "wrong")
    r = signer.post(url, json={"intent_method": "password", "password": "bad-pass"})
    _problem(r, 429, "signing-password-locked")
    assert int(r.headers["retry-after"]) > 0
    _problem(signer.post(url, json={"intent_method": "password", "password": SIGNING_PASSWORD}), 429, "locked")

    assert signer.post(f"/api/v1/sign/{links[SIGNER]}/intent-code").status_code == 202
    code = sent.code(SIGNER, "otp_contract_sign")
    done = signer.post(url, json={"intent_method": "code", "code": code})
    assert done.status_code == 200 and done.json()["recipient"]["status"] == "signed", done.text


def test_operator_can_allow_the_code_only(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, sent: Sent, monkeypatch: Any
) -> None:
    make_person(SENDER, verified=False)
    user_id = make_person(SIGNER, name="李四")
    _set(runtime, user_id, SIGNING_PASSWORD)
    monkeypatch.setattr(runtime.settings, "signing_intent_methods", "code")
    _contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    signer = api(SIGNER)
    url = f"/api/v1/sign/{links[SIGNER]}/sign"
    body = _problem(signer.post(url, json={"intent_method": "password", "password": SIGNING_PASSWORD}), 422)
    assert body.get("allowed") == ["code"], body
    assert signer.post(f"/api/v1/sign/{links[SIGNER]}/intent-code").status_code == 202
    done = signer.post(url, json={"code": sent.code(SIGNER, "otp_contract_sign")})
    assert done.status_code == 200, done.text


def test_settings_refuse_unknown_intent_methods() -> None:
    from pydantic import ValidationError

    from qianshu.config import Settings

    with pytest.raises(ValidationError):
        Settings(signing_intent_methods="code,retina")
    with pytest.raises(ValidationError):
        Settings(signing_intent_methods="")
    assert Settings(signing_intent_methods="password, code").intent_methods == ("code", "password")
    assert Settings(signing_intent_methods="face,code").intent_methods == ("code", "face")


# --- pages: the account's signing-password page and the signer's page ------------------------------


def _post(c: Any, url: str, data: dict[str, str] | None = None) -> Any:
    fields = {**(data or {}), "csrf_token": str(c.cookies.get("qs_csrf"))}
    return c.post(url, data=fields, headers=HTML)


def test_pages_set_the_signing_password_and_sign_with_it(
    api: Callable[..., Any],
    browser: Callable[..., Any],
    make_person: Callable[..., str],
    runtime: Runtime,
    sent: Sent,
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    token = links[SIGNER]
    me = browser(SIGNER)

    r = me.get("/account", headers=HTML)
    assert r.status_code == 200 and 'id="signing-password"' in r.text
    r = me.get("/account/signing-password", headers=HTML)
    assert r.status_code == 200 and 'id="signing-password-form"' in r.text
    form = {"current_password": PASSWORD, "signing_password": SIGNING_PASSWORD, "confirm": "different"}
    r = _post(me, "/account/signing-password", form)
    assert r.status_code == 422 and "不一致" in r.text
    r = _post(me, "/account/signing-password", {**form, "current_password": "wrong-login", "confirm": SIGNING_PASSWORD})
    assert r.status_code == 401 and "当前密码错误" in r.text
    r = _post(me, "/account/signing-password", {**form, "confirm": SIGNING_PASSWORD})
    assert r.status_code == 303 and "notice=accounts_signing_password_set" in r.headers["location"], r.text

    r = me.get(f"/sign/{token}", headers=HTML)
    assert r.status_code == 200 and 'id="im-password"' in r.text and 'id="intent-password"' in r.text
    r = _post(
        me, f"/sign/{token}/sign", {"intent_method": "password", "signing_password": "000000", "appearance": "text"}
    )
    assert r.status_code == 422 and "签署密码错误" in r.text
    r = _post(me, f"/sign/{token}/sign", {"intent_method": "face", "appearance": "text"})
    assert r.status_code == 422
    r = _post(
        me,
        f"/sign/{token}/sign",
        {"intent_method": "password", "signing_password": SIGNING_PASSWORD, "appearance": "text"},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("notice=contracts_signed"), r.text
    methods = [e.data for e in _contract_events(runtime, contract_id) if e.action == "contract.intent_confirmed"]
    assert methods == [{"method": "password"}]

    r = _post(me, "/account/signing-password/remove", {"current_password": PASSWORD})
    assert r.status_code == 303 and "notice=accounts_signing_password_removed" in r.headers["location"]
