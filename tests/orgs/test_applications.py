"""The enterprise application and its steps (promise A6): the state machine through the API."""

from __future__ import annotations

from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, Identities, Outbox, User, id_number, licence_image, problem


def _events(runtime: Runtime, org_id: str) -> list[str]:
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        return [e.action for e in evidence_service.list_events(session=s, stream=f"org:{org_id}")]


def _upload(user: User, org_id: str, what: str = "licence", data: bytes | None = None) -> Any:
    path = "licence" if what == "licence" else "agent/letter"
    return user.api.post(
        f"/api/v1/orgs/{org_id}/{path}",
        content=data or licence_image(),
        headers={"content-type": "image/jpeg"},
    )


# --- creating -------------------------------------------------------------------------------


def test_create_opens_a_draft_with_the_applicant_as_owner(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner, name=" 福建  测试科技有限公司 ", uscc="91350100m000100y43")
    assert org["id"].startswith("org_") and org["status"] == "draft" and org["role"] == "owner"
    assert org["name"] == "福建 测试科技有限公司" and org["uscc"] == "91350100M000100Y43"
    assert org["category"] == "企业"
    assert org["steps"] == {
        "licence": "missing",
        "legal_rep": "missing",
        "legal_rep_method": None,
        "agent": "missing",
        "agent_method": None,
        "bank": "missing",
    }
    assert owner.api.get("/api/v1/orgs").json()[0]["id"] == org["id"]
    assert _events(runtime, org["id"]) == ["org.created"]


@pytest.mark.parametrize(
    ("uscc", "reason"),
    [("91350100M000100Y44", "check_character"), ("9135", "length"), ("91350100M000100I43", "charset")],
)
def test_invalid_uscc_is_422_with_reason(flow: Flow, make_user: Any, uscc: str, reason: str) -> None:
    owner = make_user()
    r = owner.api.post("/api/v1/orgs", json={"name": "测试公司", "uscc": uscc})
    body = problem(r, 422, "invalid-uscc")
    assert body["reason"] == reason and body["detail"]
    assert owner.api.get("/api/v1/orgs").json() == []


def test_bad_names_and_bodies_are_422(make_user: Any) -> None:
    owner = make_user()
    for body in (
        {"name": "公", "uscc": "91350100M000100Y43"},
        {"name": "公司\u202e", "uscc": "91350100M000100Y43"},
        {"name": "x" * 65, "uscc": "91350100M000100Y43"},
        {"uscc": "91350100M000100Y43"},
        {"name": "测试公司", "uscc": "91350100M000100Y43", "extra": 1},
    ):
        problem(owner.api.post("/api/v1/orgs", json=body), 422, "invalid-input")
    assert owner.api.get("/api/v1/orgs").json() == []


def test_one_open_application_per_code_and_applicant(flow: Flow, make_user: Any) -> None:
    owner = make_user()
    org = flow.create(owner, uscc="91330100716105852F")
    body = problem(
        owner.api.post("/api/v1/orgs", json={"name": "x公司", "uscc": "91330100716105852F"}), 409, "conflict"
    )
    assert body["org_id"] == org["id"]
    other = make_user()
    assert flow.create(other, uscc="91330100716105852F")["id"] != org["id"]  # someone else may apply too


def test_signed_out_is_401_and_strangers_get_404(flow: Flow, make_user: Any, client: Any) -> None:
    owner = make_user()
    org = flow.create(owner)
    problem(client.get(f"/api/v1/orgs/{org['id']}"), 401, "unauthenticated")
    stranger = make_user()
    problem(stranger.api.get(f"/api/v1/orgs/{org['id']}"), 404, "org-not-found")
    problem(_upload(stranger, org["id"]), 404, "org-not-found")
    problem(stranger.api.get("/api/v1/orgs/org_doesnotexist0000000000"), 404, "org-not-found")


# --- licence --------------------------------------------------------------------------------


def test_licence_goes_to_review_and_a_new_upload_replaces_a_rejected_one(
    flow: Flow, make_user: Any, runtime: Runtime
) -> None:
    owner = make_user()
    org = flow.create(owner)
    doc = flow.licence(owner, org["id"], approve=False)
    state = owner.api.get(f"/api/v1/orgs/{org['id']}").json()
    assert state["steps"]["licence"] == "rejected"
    docs = owner.api.get(f"/api/v1/orgs/{org['id']}/documents").json()
    assert docs[0]["id"] == doc["id"] and docs[0]["reject_reason"] == "unreadable"
    r = _upload(owner, org["id"], data=licence_image("PNG"))
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    assert owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["licence"] == "pending_review"
    statuses = {d["id"]: d["status"] for d in owner.api.get(f"/api/v1/orgs/{org['id']}/documents").json()}
    assert statuses == {doc["id"]: "rejected", r.json()["id"]: "pending_review"}
    assert _events(runtime, org["id"])[1:] == [
        "org.licence_uploaded",
        "org.licence_rejected",
        "org.licence_uploaded",
    ]


def test_upload_that_is_not_an_image_or_too_large_is_refused(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner)
    body = problem(_upload(owner, org["id"], data=b"%PDF-1.7 not an image"), 422, "invalid-image")
    assert body["reason"] == "format"
    problem(_upload(owner, org["id"], data=b"\xff\xd8\xff\xe0" + b"\x00" * 64), 422, "invalid-image")
    problem(_upload(owner, org["id"], data=licence_image(size=(200, 120))), 422, "invalid-image")
    runtime.settings.org_document_max_bytes = 10_000
    problem(_upload(owner, org["id"], data=licence_image() + b"\x00" * 20_000), 413, "upload-too-large")
    assert owner.api.get(f"/api/v1/orgs/{org['id']}/documents").json() == []
    assert owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["licence"] == "missing"


def test_uploads_are_stripped_of_metadata(flow: Flow, make_user: Any, operator: User) -> None:
    import base64
    import io

    from PIL import Image

    img = Image.new("RGB", (640, 480), "white")
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    raw = io.BytesIO()
    img.save(raw, format="JPEG", exif=exif.tobytes())
    assert b"SecretCameraMaker" in raw.getvalue()
    owner = make_user()
    org = flow.create(owner)
    doc = _upload(owner, org["id"], data=raw.getvalue()).json()
    shown = operator.api.post(f"/api/v1/operator/org-reviews/{doc['id']}/reveal", json={"reason": "review"}).json()
    stored = base64.b64decode(shown["image_base64"])
    assert stored.startswith(b"\xff\xd8\xff") and b"SecretCameraMaker" not in stored


# --- legal representative and agent ---------------------------------------------------------


def test_applicant_as_legal_rep_authorises_the_agent_at_once(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user(name="林小华")
    org = flow.create(owner)
    body = flow.legal_rep_self(owner, org["id"])
    assert body["steps"]["legal_rep"] == "verified" and body["steps"]["legal_rep_method"] == "self"
    assert body["steps"]["agent"] == "authorised" and body["steps"]["agent_method"] == "legal_rep"
    assert body["legal_rep_name"] == "林**" and body["legal_rep_id_number"].startswith("1101")
    assert "*" in body["legal_rep_id_number"]
    assert _events(runtime, org["id"])[-2:] == ["org.legal_rep_verified", "org.agent_authorised"]


def test_another_legal_rep_is_checked_by_the_identity_provider(
    flow: Flow, make_user: Any, identities: Identities
) -> None:
    owner = make_user()
    org = flow.create(owner)
    r = owner.api.put(
        f"/api/v1/orgs/{org['id']}/legal-rep",
        json={"name": "王五", "id_number": id_number("123"), "authorised": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["steps"]["legal_rep_method"] == "identity_check" and r.json()["steps"]["agent"] == "missing"
    assert identities.checks == [(org["id"], "1101****")]


def test_failed_legal_rep_check_writes_nothing(flow: Flow, make_user: Any, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner)
    r = owner.api.put(
        f"/api/v1/orgs/{org['id']}/legal-rep",
        json={"name": "王五", "id_number": id_number("991"), "authorised": True},
    )
    problem(r, 422, "legal-rep-check-failed")
    state = owner.api.get(f"/api/v1/orgs/{org['id']}").json()
    assert state["steps"]["legal_rep"] == "missing" and state["legal_rep_name"] is None
    assert _events(runtime, org["id"]) == ["org.created"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "王五", "id_number": "110105198001010", "authorised": True},
        {"name": "王五", "id_number": "11010519800101002A", "authorised": True},
        {"name": "王五", "id_number": id_number("123"), "authorised": False},
        {"name": "", "id_number": id_number("123"), "authorised": True},
    ],
)
def test_legal_rep_input_is_checked(flow: Flow, make_user: Any, body: dict[str, Any]) -> None:
    owner = make_user()
    org = flow.create(owner)
    problem(owner.api.put(f"/api/v1/orgs/{org['id']}/legal-rep", json=body), 422, "invalid-input")


def test_agent_by_letter_needs_a_verified_person_and_review(flow: Flow, make_user: Any, operator: User) -> None:
    owner = make_user(verified=False)
    org = flow.create(owner)
    problem(_upload(owner, org["id"], "letter"), 403, "person-not-verified")
    verified_owner = make_user()
    org = flow.create(verified_owner)
    doc = _upload(verified_owner, org["id"], "letter").json()
    assert doc["kind"] == "authorisation_letter"
    assert verified_owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["agent"] == "pending_review"
    r = operator.api.post(f"/api/v1/operator/org-reviews/{doc['id']}/decision", json={"decision": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    steps = verified_owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]
    assert steps["agent"] == "authorised" and steps["agent_method"] == "letter"


def test_agent_by_legal_rep_confirmation(flow: Flow, make_user: Any, outbox: Outbox, runtime: Runtime) -> None:
    applicant = make_user()
    rep = make_user(name="赵法人", number=id_number("555"))
    impostor = make_user(name="赵法人", number=id_number("556"))
    org = flow.create(applicant)
    # The legal representative must be on file before a confirmation can be asked for.
    problem(
        applicant.api.post(f"/api/v1/orgs/{org['id']}/agent/confirmation", json={"phone": rep.phone}),
        409,
        "org-state-conflict",
    )
    r = applicant.api.put(
        f"/api/v1/orgs/{org['id']}/legal-rep",
        json={"name": rep.name, "id_number": rep.number, "authorised": True},
    )
    assert r.json()["steps"]["legal_rep_method"] == "identity_check"
    problem(
        applicant.api.post(f"/api/v1/orgs/{org['id']}/agent/confirmation", json={"phone": "12345"}),
        422,
        "invalid-input",
    )
    r = applicant.api.post(f"/api/v1/orgs/{org['id']}/agent/confirmation", json={"phone": rep.phone})
    assert r.status_code == 202, r.text
    assert r.json()["sent_to"] == rep.phone[:3] + "****" + rep.phone[-4:]
    message = outbox.last("org_legal_rep_confirm")
    assert message.to == rep.phone and message.subject_id == org["id"]
    token = message.params["token"]
    assert applicant.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["agent"] == "pending_confirmation"
    view = rep.api.get(f"/api/v1/org-confirmations/{token}").json()
    assert view["org_name"] == org["name"] and view["status"] == "pending"
    problem(impostor.api.post(f"/api/v1/org-confirmations/{token}/confirm"), 403, "forbidden")
    unverified = make_user(verified=False)
    problem(unverified.api.post(f"/api/v1/org-confirmations/{token}/confirm"), 403, "person-not-verified")
    r = rep.api.post(f"/api/v1/org-confirmations/{token}/confirm")
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    steps = applicant.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]
    assert steps["agent"] == "authorised" and steps["agent_method"] == "confirmation"
    problem(rep.api.post(f"/api/v1/org-confirmations/{token}/confirm"), 409, "conflict")
    problem(rep.api.get(f"/api/v1/org-confirmations/{'x' * 43}"), 404, "not-found")
    assert "org.agent_authorised" in _events(runtime, org["id"])
    # The rep confirmed, but is not made a member by it.
    problem(rep.api.get(f"/api/v1/orgs/{org['id']}"), 404, "org-not-found")


def test_changing_the_legal_rep_resets_an_authorisation_tied_to_them(flow: Flow, make_user: Any) -> None:
    owner = make_user()
    org = flow.create(owner)
    flow.legal_rep_self(owner, org["id"])
    r = owner.api.put(
        f"/api/v1/orgs/{org['id']}/legal-rep",
        json={"name": "钱七", "id_number": id_number("321"), "authorised": True},
    )
    steps = r.json()["steps"]
    assert steps["legal_rep_method"] == "identity_check" and steps["agent"] == "missing"


# --- permissions ----------------------------------------------------------------------------


def test_plain_members_see_the_org_but_cannot_run_steps(flow: Flow, make_user: Any, outbox: Outbox) -> None:
    owner = make_user()
    member = make_user()
    org = flow.create(owner)
    flow.legal_rep_self(owner, org["id"])
    inv = owner.api.post(f"/api/v1/orgs/{org['id']}/invitations", json={"phone": member.phone, "role": "member"})
    assert inv.status_code == 201, inv.text
    assert member.api.post(f"/api/v1/org-invitations/{inv.json()['id']}/accept").status_code == 200
    seen = member.api.get(f"/api/v1/orgs/{org['id']}").json()
    assert seen["role"] == "member" and seen["legal_rep_name"] is None and seen["legal_rep_id_number"] is None
    problem(_upload(member, org["id"]), 403, "org-forbidden")
    problem(member.api.get(f"/api/v1/orgs/{org['id']}/documents"), 403, "org-forbidden")
    problem(
        member.api.put(
            f"/api/v1/orgs/{org['id']}/legal-rep",
            json={"name": "x", "id_number": id_number(), "authorised": True},
        ),
        403,
        "org-forbidden",
    )


# --- completion -----------------------------------------------------------------------------


def test_all_steps_verify_the_org_and_issue_its_certificate(live_flow: Flow, make_user: Any, runtime: Runtime) -> None:
    from qianshu.orgs import service as orgs_service
    from qianshu.pki import service as pki_service

    owner = make_user()
    org = live_flow.verified(owner, name="厦门验证贸易有限公司", uscc="91350100M000100Y43")
    assert org["certificate_id"] and org["verified_at"]
    with runtime.transaction() as s:
        cert = pki_service.get_certificate_or_raise(session=s, cert_id=org["certificate_id"])
        info = orgs_service.get_org_info(session=s, org_id=org["id"])
    assert cert.subject_id == org["id"]
    assert info is not None and info.status == "verified" and info.certificate_id == cert.id
    events = _events(runtime, org["id"])
    assert events[-1] == "org.verified" and "pki.certificate_issued" in events
    # Verified: the application data is frozen.
    problem(_upload(owner, org["id"]), 409, "org-state-conflict")
    # Nobody can verify the same code again, nor open a new application for it.
    other = make_user()
    problem(
        other.api.post("/api/v1/orgs", json={"name": "冒名公司", "uscc": "91350100M000100Y43"}),
        409,
        "org-already-verified",
    )


def test_second_application_for_a_verified_code_cannot_complete(
    live_flow: Flow, make_user: Any, runtime: Runtime
) -> None:
    first, second = make_user(), make_user()
    early = live_flow.create(second, uscc="91440300708461136T")
    live_flow.verified(first, uscc="91440300708461136T")
    live_flow.licence(second, early["id"])
    live_flow.legal_rep_self(second, early["id"])
    # The last step would complete it: refused as a whole, so nothing of the step is kept.
    account = "6222020200998877"
    r = second.api.post(
        f"/api/v1/orgs/{early['id']}/bank/deposits", json={"bank_name": "中国银行", "account_number": account}
    )
    assert r.status_code == 201
    amount = live_flow.live.statement(account)[0]["amount"] if live_flow.live else ""
    problem(
        second.api.post(f"/api/v1/orgs/{early['id']}/bank/deposits/confirm", json={"amount": amount}),
        409,
        "org-already-verified",
    )
    state = second.api.get(f"/api/v1/orgs/{early['id']}").json()
    assert state["status"] == "draft" and state["steps"]["bank"] == "sent"
