"""C4: the intent to sign confirmed by a face check (签署意愿：人脸核验), where the operator allows it.

The signer sends a live photo; the identity provider (the sandbox, over real HTTP) compares it with
the ID record of the name and ID number the account was verified with. A match earns a single-use
ticket that `sign` takes with `intent_method` "face". The face is sensitive personal information:
separate consent first, every call in the sharing register (also a mismatch), the photo not stored.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent
from tests.contracts.test_api import _problem, _sent, _signer
from tests.identity.conftest import make_id

SENDER, SIGNER, LOOKALIKE = "13900139010", "13800138011", "13700137012"
HTML = {"accept": "text/html"}
FACE_PURPOSE = "sensitive.face"


@pytest.fixture
def face_allowed(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.settings, "signing_intent_methods", "code,password,face")


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (480, 640), (205, 170, 150)).save(out, format="JPEG")
    return out.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _user_id(runtime: Runtime, phone: str) -> str:
    from qianshu.accounts import service as accounts_service

    with runtime.transaction() as s:
        user = accounts_service.find_user(session=s, phone=phone)
        assert user is not None
        return str(user.id)


def _sharing(runtime: Runtime, user_id: str) -> list[Any]:
    from qianshu.identity import service as identity_service

    with runtime.transaction() as s:
        return [x for x in identity_service.list_sharing(session=s, subject_id=user_id) if "face_image" in x.fields]


def _events(runtime: Runtime, stream: str) -> list[Any]:
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        return list(evidence_service.list_events(session=s, stream=stream))


def _has_face_consent(runtime: Runtime, user_id: str) -> bool:
    from qianshu.privacy import service as privacy_service

    with runtime.transaction() as s:
        return privacy_service.has_consent(session=s, user_id=user_id, purpose=FACE_PURPOSE)


def test_api_face_check_earns_a_single_use_ticket_that_signs(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, face_allowed: None
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    user_id = _user_id(runtime, SIGNER)
    contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    signer, stranger = api(SIGNER), api()
    face_url, sign_url = f"/api/v1/sign/{links[SIGNER]}/face", f"/api/v1/sign/{links[SIGNER]}/sign"

    # bad input, each refused before the provider is asked: no sharing-register entry
    _problem(
        stranger.post(face_url, json={"photo_b64": _b64(_photo()), "consent": True}), 403, "signer-access-required"
    )
    _problem(signer.post(face_url, json={"photo_b64": _b64(_photo())}), 403, "consent-required")
    _problem(signer.post(face_url, json={"photo_b64": "not base64!", "consent": True}), 400)
    _problem(signer.post(face_url, json={"photo_b64": _b64(b"%PDF-1.7 not a photo"), "consent": True}), 422)
    _problem(signer.post(face_url, json={"consent": True}), 422)
    assert _sharing(runtime, user_id) == [] and not _has_face_consent(runtime, user_id)
    _problem(signer.post(sign_url, json={"intent_method": "face"}), 422)  # no ticket yet
    _problem(signer.post(sign_url, json={"intent_method": "face", "code": "123456"}), 422)

    r = signer.post(face_url, json={"photo_b64": _b64(_photo()), "consent": True})
    assert r.status_code == 200, r.text
    ticket = r.json()["ticket"]
    assert len(ticket) == 6 and ticket.isdigit()
    assert _has_face_consent(runtime, user_id)
    shared = _sharing(runtime, user_id)
    assert len(shared) == 1 and "签署意愿" in shared[0].purpose and shared[0].legal_basis == "consent"
    checked = [e for e in _events(runtime, f"user:{user_id}") if e.action == "identity.face_checked"]
    assert [e.data["result"] for e in checked] == ["match"]

    # the ticket is for the face method only (a code of its own purpose) and confirms intent once
    _problem(signer.post(sign_url, json={"intent_method": "code", "code": ticket}), 422)
    done = signer.post(sign_url, json={"intent_method": "face", "code": ticket})
    assert done.status_code == 200 and done.json()["status"] == "completed", done.text

    events = _events(runtime, f"contract:{contract_id}")
    actions = [e.action for e in events]
    assert actions.index("contract.face_checked") < actions.index("contract.intent_confirmed")
    assert actions.index("contract.intent_confirmed") < actions.index("contract.signed")
    assert [e.data for e in events if e.action == "contract.intent_confirmed"] == [{"method": "face"}]
    assert ticket not in json.dumps([e.data for e in events], default=str)


def test_a_face_that_does_not_match_confirms_nothing_but_is_registered(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, sent: Sent, face_allowed: None
) -> None:
    from qianshu.identity import levels
    from qianshu.identity.checks import verify_now

    make_person(SENDER, verified=False)
    user_id = make_person(LOOKALIKE, verified=False)
    with runtime.transaction() as s:  # the sandbox answers sequence code 994 with a face score of 35
        verify_now(
            session=s,
            clock=runtime.clock,
            user_id=user_id,
            level="two_elements",
            name="王五",
            id_number=make_id(birth="19850101", seq="994"),
            grant=(levels.PURPOSE_ID_NUMBER,),
        )
    _contract_id, links = _sent(api(SENDER), [_signer(LOOKALIKE)])
    signer = api(LOOKALIKE)
    face_url = f"/api/v1/sign/{links[LOOKALIKE]}/face"

    body = _problem(signer.post(face_url, json={"photo_b64": _b64(_photo()), "consent": True}), 422, "face-mismatch")
    assert "人脸核验未通过" in body["detail"]
    # the call left the platform: registered (and the consent kept) although the request failed
    assert len(_sharing(runtime, user_id)) == 1 and _has_face_consent(runtime, user_id)
    checked = [e for e in _events(runtime, f"user:{user_id}") if e.action == "identity.face_checked"]
    assert [e.data["result"] for e in checked] == ["mismatch"]
    view = signer.get(f"/api/v1/sign/{links[LOOKALIKE]}").json()
    assert view["recipient"]["status"] == "waiting"
    # the consent given once is enough for the next try
    _problem(signer.post(face_url, json={"photo_b64": _b64(_photo())}), 422, "face-mismatch")
    assert len(_sharing(runtime, user_id)) == 2
    # the lookalike can still sign another way: a failed face check locks nothing
    assert signer.post(f"/api/v1/sign/{links[LOOKALIKE]}/intent-code").status_code == 202
    done = signer.post(
        f"/api/v1/sign/{links[LOOKALIKE]}/sign",
        json={"intent_method": "code", "code": sent.code(LOOKALIKE, "otp_contract_sign")},
    )
    assert done.status_code == 200, done.text


def test_face_is_refused_unless_the_operator_allows_it(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime
) -> None:
    make_person(SENDER, verified=False)
    user_id = make_person(SIGNER, name="李四")
    _contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    r = api(SIGNER).post(f"/api/v1/sign/{links[SIGNER]}/face", json={"photo_b64": _b64(_photo()), "consent": True})
    body = _problem(r, 422)
    assert body["allowed"] == ["code", "password"]
    assert _sharing(runtime, user_id) == []


def test_sign_page_takes_the_photo_with_the_form(
    api: Callable[..., Any],
    browser: Callable[..., Any],
    make_person: Callable[..., str],
    runtime: Runtime,
    face_allowed: None,
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    contract_id, links = _sent(api(SENDER), [_signer(SIGNER)])
    token = links[SIGNER]
    me = browser(SIGNER)
    csrf = str(me.cookies.get("qs_csrf"))

    page = me.get(f"/sign/{token}", headers=HTML)
    assert page.status_code == 200
    for marker in ('id="im-face"', 'id="f-face"', 'capture="user"', 'id="f-face-consent"'):
        assert marker in page.text, marker

    form = {"csrf_token": csrf, "intent_method": "face", "appearance": "text"}
    r = me.post(f"/sign/{token}/sign", data=form, headers=HTML)  # no photo
    assert r.status_code == 422 and "人脸核验" in r.text
    photo = {"face_photo": ("face.jpg", _photo(), "image/jpeg")}
    r = me.post(f"/sign/{token}/sign", data=form, files=photo, headers=HTML)  # no consent
    assert r.status_code == 403 and "单独同意" in r.text
    r = me.post(f"/sign/{token}/sign", data={**form, "face_consent": "1"}, files=photo, headers=HTML)
    assert r.status_code == 303 and r.headers["location"].endswith("notice=contracts_signed"), r.text
    methods = [e.data for e in _events(runtime, f"contract:{contract_id}") if e.action == "contract.intent_confirmed"]
    assert methods == [{"method": "face"}]


def test_a_second_face_check_replaces_the_ticket_and_a_later_signer_waits_for_the_turn(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, face_allowed: None
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    later = make_person(LOOKALIKE, name="王五")
    _contract_id, links = _sent(api(SENDER), [_signer(SIGNER, order=1), _signer(LOOKALIKE, order=2, y=200)])

    # not yet this signer's turn: refused before the face leaves the platform
    r = api(LOOKALIKE).post(
        f"/api/v1/sign/{links[LOOKALIKE]}/face", json={"photo_b64": _b64(_photo()), "consent": True}
    )
    _problem(r, 409, "signer-not-your-turn")
    assert _sharing(runtime, later) == []

    # a ticket is handed back, not sent: no resend pause, and a new one replaces the old
    signer = api(SIGNER)
    face_url, sign_url = f"/api/v1/sign/{links[SIGNER]}/face", f"/api/v1/sign/{links[SIGNER]}/sign"
    first = signer.post(face_url, json={"photo_b64": _b64(_photo()), "consent": True})
    second = signer.post(face_url, json={"photo_b64": _b64(_photo())})
    assert first.status_code == 200 and second.status_code == 200, second.text
    _problem(signer.post(sign_url, json={"intent_method": "face", "code": first.json()["ticket"]}), 422)
    done = signer.post(sign_url, json={"intent_method": "face", "code": second.json()["ticket"]})
    assert done.status_code == 200 and done.json()["recipient"]["status"] == "signed", done.text
