"""Members, roles and invitations by phone number or e-mail address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, Outbox, User, problem


def _invite(by: User, org_id: str, *, role: str = "member", phone: str | None = None, email: str | None = None) -> Any:
    body: dict[str, Any] = {"role": role}
    body.update({"phone": phone} if phone else {"email": email})
    return by.api.post(f"/api/v1/orgs/{org_id}/invitations", json=body)


def _join(by: User, invitee: User, org_id: str, role: str = "member") -> dict[str, Any]:
    inv = _invite(by, org_id, role=role, phone=invitee.phone)
    assert inv.status_code == 201, inv.text
    r = invitee.api.post(f"/api/v1/org-invitations/{inv.json()['id']}/accept")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _role(user: User, org_id: str, target: User, role: str) -> Any:
    return user.api.put(f"/api/v1/orgs/{org_id}/members/{target.id}/role", json={"role": role})


def test_invitation_by_phone_is_sent_and_accepted(flow: Flow, make_user: Any, outbox: Outbox, runtime: Runtime) -> None:
    owner, invitee = make_user(), make_user()
    org = flow.create(owner)
    r = _invite(owner, org["id"], role="seal_keeper", phone=invitee.phone)
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["sent_to"] == invitee.phone[:3] + "****" + invitee.phone[-4:] and inv["status"] == "pending"
    message = outbox.last("org_invitation")
    assert message.channel == "sms" and message.to == invitee.phone and message.subject_id == org["id"]
    assert message.params == {"org_name": org["name"], "role": "印章管理员"}
    mine = invitee.api.get("/api/v1/org-invitations").json()
    assert [i["id"] for i in mine] == [inv["id"]] and mine[0]["org_name"] == org["name"]
    member = invitee.api.post(f"/api/v1/org-invitations/{inv['id']}/accept").json()
    assert member["role"] == "seal_keeper" and member["org_id"] == org["id"]
    members = owner.api.get(f"/api/v1/orgs/{org['id']}/members").json()
    assert {m["user_id"]: m["role"] for m in members} == {owner.id: "owner", invitee.id: "seal_keeper"}
    assert [m["label"] for m in members] == ["测***", "测***"]  # masked display names
    assert invitee.api.get("/api/v1/org-invitations").json() == []
    assert owner.api.get(f"/api/v1/orgs/{org['id']}/invitations").json()[0]["status"] == "accepted"
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"org:{org['id']}")]
    assert actions[-2:] == ["org.member_invited", "org.member_joined"]


def test_invitation_by_email(flow: Flow, make_user: Any, outbox: Outbox, runtime: Runtime) -> None:
    owner = make_user()
    org = flow.create(owner)
    r = _invite(owner, org["id"], email="Li.Si@Example.com")
    assert r.status_code == 201, r.text
    assert r.json()["sent_to"] == "l***@example.com"
    assert outbox.last("org_invitation").to == "li.si@example.com"
    problem(_invite(owner, org["id"], email="not-an-address"), 422, "invalid-input")
    problem(_invite(owner, org["id"], phone="123"), 422, "invalid-input")
    problem(owner.api.post(f"/api/v1/orgs/{org['id']}/invitations", json={"role": "member"}), 422, "invalid-input")


def test_only_the_invited_contact_can_accept(flow: Flow, make_user: Any) -> None:
    owner, invitee, other = make_user(), make_user(), make_user()
    org = flow.create(owner)
    inv = _invite(owner, org["id"], phone=invitee.phone).json()
    problem(other.api.post(f"/api/v1/org-invitations/{inv['id']}/accept"), 404, "invitation-not-found")
    assert other.api.get("/api/v1/org-invitations").json() == []
    problem(other.api.get(f"/api/v1/orgs/{org['id']}"), 404, "org-not-found")


def test_invitations_expire_and_can_be_revoked(flow: Flow, make_user: Any, clock: FrozenClock) -> None:
    owner, a, b = make_user(), make_user(), make_user()
    org = flow.create(owner)
    inv_a = _invite(owner, org["id"], phone=a.phone).json()
    problem(_invite(owner, org["id"], phone=a.phone), 409, "conflict")  # one pending invitation per contact
    inv_b = _invite(owner, org["id"], phone=b.phone).json()
    assert owner.api.delete(f"/api/v1/orgs/{org['id']}/invitations/{inv_b['id']}").json()["status"] == "revoked"
    problem(b.api.post(f"/api/v1/org-invitations/{inv_b['id']}/accept"), 404, "invitation-not-found")
    clock.advance(timedelta(days=7, seconds=1))
    problem(a.api.post(f"/api/v1/org-invitations/{inv_a['id']}/accept"), 404, "invitation-not-found")
    statuses = {i["id"]: i["status"] for i in owner.api.get(f"/api/v1/orgs/{org['id']}/invitations").json()}
    assert statuses == {inv_a["id"]: "expired", inv_b["id"]: "revoked"}
    assert _invite(owner, org["id"], phone=a.phone).status_code == 201  # a new one after expiry


def test_roles_and_their_limits(flow: Flow, make_user: Any) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    unverified = make_user(verified=False)
    org = flow.create(owner)
    _join(owner, admin, org["id"], "admin")
    _join(owner, member, org["id"])
    _join(owner, unverified, org["id"])
    # Plain members manage nothing.
    problem(_invite(member, org["id"], phone="13700000000"), 403, "org-forbidden")
    problem(_role(member, org["id"], unverified, "admin"), 403, "org-forbidden")
    # Admins manage members but not owners, and cannot make owners.
    assert _role(admin, org["id"], member, "seal_keeper").json()["role"] == "seal_keeper"
    problem(_role(admin, org["id"], member, "owner"), 403, "org-forbidden")
    problem(_role(admin, org["id"], owner, "member"), 403, "org-forbidden")
    problem(_invite(admin, org["id"], role="owner", phone="13700000001"), 403, "org-forbidden")
    # An agent acts for the organisation: real-name verification first.
    problem(_role(owner, org["id"], unverified, "agent"), 403, "person-not-verified")
    assert _role(owner, org["id"], member, "agent").json()["role"] == "agent"
    # The last owner stays an owner; with a second owner the first may step down.
    problem(_role(owner, org["id"], owner, "admin"), 409, "conflict")
    assert _role(owner, org["id"], admin, "owner").json()["role"] == "owner"
    assert _role(owner, org["id"], owner, "admin").json()["role"] == "admin"
    problem(_role(owner, org["id"], member, "emperor"), 422, "invalid-input")
    problem(
        owner.api.put(f"/api/v1/orgs/{org['id']}/members/usr_nobody00000000000000/role", json={"role": "member"}),
        404,
        "not-found",
    )


def test_removing_and_leaving(flow: Flow, make_user: Any) -> None:
    owner, member, other = make_user(), make_user(), make_user()
    org = flow.create(owner)
    _join(owner, member, org["id"])
    _join(owner, other, org["id"])
    problem(member.api.delete(f"/api/v1/orgs/{org['id']}/members/{other.id}"), 403, "org-forbidden")
    assert member.api.delete(f"/api/v1/orgs/{org['id']}/members/{member.id}").status_code == 204  # leave
    problem(member.api.get(f"/api/v1/orgs/{org['id']}"), 404, "org-not-found")
    assert owner.api.delete(f"/api/v1/orgs/{org['id']}/members/{other.id}").status_code == 204
    problem(owner.api.delete(f"/api/v1/orgs/{org['id']}/members/{owner.id}"), 409, "conflict")  # last owner
    ids = [m["user_id"] for m in owner.api.get(f"/api/v1/orgs/{org['id']}/members").json()]
    assert ids == [owner.id]
    # A removed member can be invited back.
    assert _join(owner, member, org["id"], "admin")["role"] == "admin"


def test_agent_invitation_needs_a_verified_person(flow: Flow, make_user: Any) -> None:
    owner, unverified = make_user(), make_user(verified=False)
    org = flow.create(owner)
    inv = _invite(owner, org["id"], role="agent", phone=unverified.phone).json()
    problem(unverified.api.post(f"/api/v1/org-invitations/{inv['id']}/accept"), 403, "person-not-verified")


def test_notify_renders_the_org_templates_with_our_params() -> None:
    from qianshu.notify import messages

    missing = [t for t in ("org_invitation", "org_legal_rep_confirm") if t not in messages.TEMPLATES]
    if missing:
        pytest.skip(f"notify has no template yet for: {', '.join(missing)} (orgs tests only record them)")
    for channel in ("sms", "email"):
        text = messages.render_message(
            template="org_invitation",
            channel=channel,
            locale="zh-CN",
            params={"org_name": "某公司", "role": "成员"},
            site_name="签署",
            base_url="http://x",
        )
        assert "某公司" in text.body
        text = messages.render_message(
            template="org_legal_rep_confirm",
            channel=channel,
            locale="zh-CN",
            params={"org_name": "某公司", "token": "t" * 43},
            site_name="签署",
            base_url="http://x",
        )
        assert "/orgs/confirm/" + "t" * 43 in text.body
