"""Seals (promise C5): generated or uploaded images, members-only images, grants and approval."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, User, licence_image, problem, seal_png


def _join(owner: User, user: User, org_id: str, role: str = "member") -> None:
    inv = owner.api.post(f"/api/v1/orgs/{org_id}/invitations", json={"phone": user.phone, "role": role})
    assert inv.status_code == 201, inv.text
    assert user.api.post(f"/api/v1/org-invitations/{inv.json()['id']}/accept").status_code == 200


def _generate(user: User, org_id: str, **body: Any) -> Any:
    return user.api.post(f"/api/v1/orgs/{org_id}/seals", json=body)


def _upload(user: User, org_id: str, data: bytes, name: str = "公章", ctype: str = "image/png", **params: Any) -> Any:
    return user.api.post(
        f"/api/v1/orgs/{org_id}/seals/upload",
        params={"name": name, **params},
        content=data,
        headers={"content-type": ctype},
    )


def _can_use(runtime: Runtime, org_id: str, user_id: str, seal_id: str) -> bool:
    from qianshu.orgs import service as orgs_service

    with runtime.transaction() as s:
        return orgs_service.can_use_seal(session=s, org_id=org_id, user_id=user_id, seal_id=seal_id)


@pytest.fixture
def verified(live_flow: Flow, make_user: Any) -> tuple[User, dict[str, Any]]:
    owner = make_user()
    return owner, live_flow.verified(owner, name="福州闽江印章测试有限公司")


def test_generated_seal_is_a_round_red_transparent_png(verified: tuple[User, dict[str, Any]], runtime: Runtime) -> None:
    owner, org = verified
    r = _generate(owner, org["id"], name="合同专用章", footer="合同专用章")
    assert r.status_code == 201, r.text
    seal = r.json()
    assert seal["kind"] == "generated" and seal["footer"] == "合同专用章" and seal["status"] == "active"
    png = owner.api.get(seal["image_url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert "no-store" in png.headers["cache-control"]
    img = Image.open(io.BytesIO(png.content))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (seal["width"], seal["height"])
    w, h = img.size
    alpha = img.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((w - 1, h - 1)) == 0  # transparent corners
    raw = img.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    inked = [p for p in pixels if p[3] > 128]
    assert len(inked) > 0.05 * w * h
    assert all(r > 150 and g < 90 and b < 90 for r, g, b, _ in inked)  # red ink only
    # Render check: laid over a white page, the ring, the star and the lettering show in red.
    page = Image.new("RGBA", img.size, (255, 255, 255, 255))
    page.alpha_composite(img)
    rgb = page.convert("RGB")

    def red(x: int, y: int) -> bool:
        pixel = rgb.getpixel((x, y))
        assert isinstance(pixel, tuple)
        r_, g_, b_ = pixel[:3]
        return bool(r_ > 150 and g_ < 100 and b_ < 100)

    assert red(w // 2, h // 2)  # the star's centre
    assert any(red(x, h // 2) for x in range(0, w // 20))  # the ring on the left edge
    assert any(red(w // 2, y) for y in range(h // 20, h // 4))  # lettering along the upper arc
    assert rgb.getpixel((w // 2, int(h * 0.62))) != (0, 0, 0)  # footer band rendered, no black
    assert rgb.getpixel((3, 3)) == (255, 255, 255)  # the page shows through the corners


def test_seals_are_only_for_verified_orgs(flow: Flow, make_user: Any) -> None:
    owner = make_user()
    org = flow.create(owner)
    problem(_generate(owner, org["id"]), 409, "org-state-conflict")
    problem(_upload(owner, org["id"], seal_png()), 409, "org-state-conflict")


def test_upload_accepts_a_transparent_png_only(verified: tuple[User, dict[str, Any]], runtime: Runtime) -> None:
    owner, org = verified
    r = _upload(owner, org["id"], seal_png(), name="财务专用章", requires_approval="true")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "uploaded" and r.json()["requires_approval"] is True
    body = problem(_upload(owner, org["id"], seal_png(alpha=False)), 422, "invalid-image")
    assert body["reason"] == "no_alpha"
    problem(_upload(owner, org["id"], licence_image(), ctype="image/jpeg"), 422, "invalid-image")
    problem(_upload(owner, org["id"], b"\x89PNG\r\n\x1a\n" + b"garbage" * 10), 422, "invalid-image")
    problem(_upload(owner, org["id"], seal_png(size=60)), 422, "invalid-image")
    problem(_upload(owner, org["id"], seal_png(), name=""), 422, "invalid-input")
    runtime.settings.seal_upload_max_bytes = 2_000
    problem(_upload(owner, org["id"], seal_png(size=1200) + b"\x00" * 4000), 413, "upload-too-large")
    assert len(owner.api.get(f"/api/v1/orgs/{org['id']}/seals").json()) == 1


def test_seal_images_are_for_members_only(verified: tuple[User, dict[str, Any]], make_user: Any) -> None:
    owner, org = verified
    seal = _generate(owner, org["id"]).json()
    stranger = make_user()
    problem(stranger.api.get(seal["image_url"]), 404, "org-not-found")
    problem(stranger.api.get(f"/api/v1/orgs/{org['id']}/seals"), 404, "org-not-found")
    member = make_user()
    _join(owner, member, org["id"])
    assert member.api.get(seal["image_url"]).status_code == 200
    problem(
        member.api.get(f"/api/v1/orgs/{org['id']}/seals/seal_nosuchseal0000000000/image"),
        404,
        "seal-not-found",
    )


def test_who_manages_seals(verified: tuple[User, dict[str, Any]], make_user: Any) -> None:
    owner, org = verified
    keeper, member = make_user(), make_user()
    _join(owner, keeper, org["id"], "seal_keeper")
    _join(owner, member, org["id"])
    problem(_generate(member, org["id"]), 403, "org-forbidden")
    seal = _generate(keeper, org["id"]).json()
    r = member.api.post(f"/api/v1/orgs/{org['id']}/seals/{seal['id']}/grants", json={"user_id": member.id})
    problem(r, 403, "org-forbidden")
    r = keeper.api.post(f"/api/v1/orgs/{org['id']}/seals/{seal['id']}/grants", json={"user_id": member.id})
    assert r.status_code == 201, r.text


def test_grants_decide_who_may_use_a_seal(
    verified: tuple[User, dict[str, Any]], make_user: Any, runtime: Runtime, clock: FrozenClock
) -> None:
    owner, org = verified
    agent, member, stranger = make_user(), make_user(), make_user()
    _join(owner, agent, org["id"], "agent")
    _join(owner, member, org["id"])
    seal = _generate(owner, org["id"]).json()
    base = f"/api/v1/orgs/{org['id']}/seals/{seal['id']}/grants"
    assert not _can_use(runtime, org["id"], agent.id, seal["id"])  # no role implies a seal
    assert not _can_use(runtime, org["id"], owner.id, seal["id"])
    until = (clock.now() + timedelta(days=2)).isoformat()
    grant = owner.api.post(base, json={"user_id": agent.id, "expires_at": until}).json()
    assert grant["active"] is True
    problem(owner.api.post(base, json={"user_id": agent.id}), 409, "conflict")  # one live grant per member
    problem(owner.api.post(base, json={"user_id": stranger.id}), 404, "not-found")  # members only
    problem(
        owner.api.post(base, json={"user_id": member.id, "expires_at": "2020-01-01T00:00:00Z"}),
        422,
        "invalid-input",
    )
    problem(
        owner.api.post(base, json={"user_id": member.id, "expires_at": "2030-01-01T00:00:00"}),
        422,
        "invalid-input",
    )  # naive times are refused
    assert _can_use(runtime, org["id"], agent.id, seal["id"])
    assert not _can_use(runtime, org["id"], member.id, seal["id"])
    assert not _can_use(runtime, org["id"], stranger.id, seal["id"])
    assert not _can_use(runtime, org["id"], agent.id, "seal_nosuchseal0000000000")
    assert not _can_use(runtime, "org_nosuchorg00000000000", agent.id, seal["id"])
    # Expiry.
    clock.advance(timedelta(days=2, seconds=1))
    assert not _can_use(runtime, org["id"], agent.id, seal["id"])
    listed = owner.api.get(base).json()
    assert listed[0]["active"] is False
    # Renew, then revoke.
    grant = owner.api.post(base, json={"user_id": agent.id}).json()
    assert _can_use(runtime, org["id"], agent.id, seal["id"])
    revoked = owner.api.delete(f"{base}/{grant['id']}").json()
    assert revoked["active"] is False and revoked["revoked_at"]
    assert not _can_use(runtime, org["id"], agent.id, seal["id"])
    # Removing a member ends their grants.
    owner.api.post(base, json={"user_id": member.id})
    assert _can_use(runtime, org["id"], member.id, seal["id"])
    assert owner.api.delete(f"/api/v1/orgs/{org['id']}/members/{member.id}").status_code == 204
    assert not _can_use(runtime, org["id"], member.id, seal["id"])


def test_disabled_seals_cannot_be_used(verified: tuple[User, dict[str, Any]], make_user: Any, runtime: Runtime) -> None:
    from qianshu.orgs import service as orgs_service

    owner, org = verified
    seal = _generate(owner, org["id"]).json()
    owner.api.post(f"/api/v1/orgs/{org['id']}/seals/{seal['id']}/grants", json={"user_id": owner.id})
    assert _can_use(runtime, org["id"], owner.id, seal["id"])
    with runtime.transaction() as s:
        orgs_service.set_seal_status(
            session=s,
            clock=runtime.clock,
            actor_id=owner.id,
            org_id=org["id"],
            seal_id=seal["id"],
            active=False,
        )
    assert not _can_use(runtime, org["id"], owner.id, seal["id"])


def test_use_approval_flag(verified: tuple[User, dict[str, Any]], runtime: Runtime) -> None:
    from qianshu.orgs import service as orgs_service
    from qianshu.orgs.errors import SealNotFound

    owner, org = verified
    seal = _generate(owner, org["id"]).json()
    assert seal["requires_approval"] is False
    r = owner.api.put(f"/api/v1/orgs/{org['id']}/seals/{seal['id']}/approval", json={"requires_approval": True})
    assert r.status_code == 200 and r.json()["requires_approval"] is True
    with runtime.transaction() as s:
        assert orgs_service.requires_approval(session=s, org_id=org["id"], seal_id=seal["id"]) is True
        with pytest.raises(SealNotFound):
            orgs_service.requires_approval(session=s, org_id=org["id"], seal_id="seal_nosuchseal0000000000")
    from qianshu.evidence import service as evidence_service

    with runtime.transaction() as s:
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"org:{org['id']}")]
    assert "org.seal_created" in actions and actions[-1] == "org.seal_approval_set"


def test_seal_image_for_signing_needs_a_grant(verified: tuple[User, dict[str, Any]], runtime: Runtime) -> None:
    from qianshu.orgs import service as orgs_service
    from qianshu.orgs.errors import SealNotFound

    owner, org = verified
    seal = _generate(owner, org["id"]).json()
    with runtime.transaction() as s, pytest.raises(SealNotFound):
        orgs_service.seal_image_for_signing(session=s, org_id=org["id"], user_id=owner.id, seal_id=seal["id"])
    owner.api.post(f"/api/v1/orgs/{org['id']}/seals/{seal['id']}/grants", json={"user_id": owner.id})
    with runtime.transaction() as s:
        png = orgs_service.seal_image_for_signing(session=s, org_id=org["id"], user_id=owner.id, seal_id=seal["id"])
    assert png.startswith(b"\x89PNG")


def test_generated_seal_uses_the_org_name(runtime: Runtime) -> None:
    # Different names draw different seals (the name really is lettered along the arc).
    from qianshu.signing.seal import render_seal_png

    font = runtime.settings.seal_font
    a = render_seal_png("福州甲公司", font_path=font)
    b = render_seal_png("福州乙公司", font_path=font)
    assert a != b
