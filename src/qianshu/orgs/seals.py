"""Seals of an organisation (promise C5): generated or uploaded images, grants, use approval.

A seal image is stored only as a vault ciphertext under the organisation's data key. Members may
look at it; using it to sign needs a grant naming the member (`can_use_seal`), optionally until a
time. Whether each use needs approval (用印审批) is a per-seal flag the contract workflow reads
through `requires_approval`. Only verified organisations get seals.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.ids import is_id, new_id
from qianshu.core.runtime import runtime_of
from qianshu.orgs.applications import clean_text
from qianshu.orgs.errors import OrgStateConflict, SealNotFound
from qianshu.orgs.images import check_seal_png, png_size
from qianshu.orgs.models import Org, Seal, SealGrant
from qianshu.orgs.records import (
    ACTIVE,
    VERIFIED,
    audit,
    is_expired,
    membership,
    open_bytes,
    org_for,
    seal_bytes,
)
from qianshu.orgs.roles import Permission
from qianshu.orgs.schemas import GrantCreate, GrantRead, SealGenerate, SealRead

TABLE = "orgs_seal"
GENERATED, UPLOADED = "generated", "uploaded"


def _read(row: Seal) -> SealRead:
    return SealRead(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        kind=row.kind,
        footer=row.footer,
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        requires_approval=row.requires_approval,
        status=row.status,
        created_at=row.created_at,
        image_url=f"/api/v1/orgs/{row.org_id}/seals/{row.id}/image",
    )


def _grant_read(row: SealGrant, now: datetime) -> GrantRead:
    return GrantRead(
        id=row.id,
        seal_id=row.seal_id,
        user_id=row.user_id,
        granted_by=row.granted_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        active=row.revoked_at is None and not is_expired(row.expires_at, now),
    )


def _require_verified(org: Org) -> None:
    if org.status != VERIFIED:
        raise OrgStateConflict("企业完成认证后才能制作印章", detail_en="Seals are made for verified organisations only")


def _seal(session: Session, org_id: str, seal_id: str, *, lock: bool = False) -> Seal:
    query = select(Seal).where(Seal.id == seal_id, Seal.org_id == org_id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query) if is_id(seal_id, "seal") else None
    if row is None:
        raise SealNotFound()
    return row


def _store(
    session: Session,
    clock: Clock,
    *,
    org: Org,
    actor_id: str,
    name: str,
    kind: str,
    footer: str | None,
    png: bytes,
    requires_approval: bool,
    context: RequestContext | None,
) -> SealRead:
    seal_id = new_id("seal")
    width, height = png_size(png)
    now = clock.now()
    row = Seal(
        id=seal_id,
        org_id=org.id,
        name=name,
        kind=kind,
        footer=footer,
        image_enc=seal_bytes(session, org_id=org.id, table=TABLE, column="image", row_id=seal_id, value=png),
        width=width,
        height=height,
        size_bytes=len(png),
        requires_approval=requires_approval,
        status=ACTIVE,
        created_by=actor_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.seal_created",
        object_id=seal_id,
        data={"kind": kind, "requires_approval": requires_approval, "size_bytes": len(png)},
        context=context,
    )
    return _read(row)


def create_generated_seal(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: SealGenerate,
    context: RequestContext | None = None,
) -> SealRead:
    """Draw a round red seal from the organisation's name (signing.seal) and store it."""
    from qianshu.signing.seal import render_seal_png

    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_SEALS)
    _require_verified(org)
    name = clean_text(data.name, max_len=20, what="印章名称", what_en="seal name", min_len=1)
    footer = (
        clean_text(data.footer, max_len=12, what="印章下方文字", what_en="footer text", min_len=1)
        if data.footer and data.footer.strip()
        else None
    )
    settings = runtime_of(session).settings
    try:
        png = render_seal_png(
            org.name, font_path=settings.seal_font, font_index=settings.seal_font_index, footer=footer
        )
    except ValueError as exc:  # a name the drawing cannot fit
        raise InvalidInput("无法用该企业名称生成印章", detail_en=f"Cannot draw a seal: {exc}") from None
    return _store(
        session,
        clock,
        org=org,
        actor_id=actor_id,
        name=name,
        kind=GENERATED,
        footer=footer,
        png=png,
        requires_approval=data.requires_approval,
        context=context,
    )


def upload_seal(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    name: str,
    data: bytes,
    requires_approval: bool = False,
    context: RequestContext | None = None,
) -> SealRead:
    """Store an uploaded seal image (a transparent PNG, size and format checked)."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_SEALS)
    _require_verified(org)
    label = clean_text(name, max_len=20, what="印章名称", what_en="seal name", min_len=1)
    checked = check_seal_png(data, max_bytes=runtime_of(session).settings.seal_upload_max_bytes)
    return _store(
        session,
        clock,
        org=org,
        actor_id=actor_id,
        name=label,
        kind=UPLOADED,
        footer=None,
        png=checked.data,
        requires_approval=requires_approval,
        context=context,
    )


def list_seals(*, session: Session, org_id: str, user_id: str) -> list[SealRead]:
    """Return the organisation's seals (any member)."""
    org_for(session, org_id=org_id, user_id=user_id)
    rows = session.scalars(select(Seal).where(Seal.org_id == org_id).order_by(Seal.created_at, Seal.id))
    return [_read(r) for r in rows]


def get_seal(*, session: Session, org_id: str, user_id: str, seal_id: str) -> SealRead:
    """Return one seal (any member)."""
    org_for(session, org_id=org_id, user_id=user_id)
    return _read(_seal(session, org_id, seal_id))


def get_seal_image(*, session: Session, org_id: str, user_id: str, seal_id: str) -> bytes:
    """Return the seal's PNG (members only)."""
    org_for(session, org_id=org_id, user_id=user_id)
    row = _seal(session, org_id, seal_id)
    return open_bytes(session, org_id=org_id, table=TABLE, column="image", row_id=row.id, blob=row.image_enc)


def seal_image_for_signing(*, session: Session, org_id: str, user_id: str, seal_id: str) -> bytes:
    """Return the seal's PNG for a signature appearance, only when `user_id` may use the seal now."""
    if not can_use_seal(session=session, org_id=org_id, user_id=user_id, seal_id=seal_id):
        raise SealNotFound("您无权使用该印章", detail_en="You may not use this seal")
    row = _seal(session, org_id, seal_id)
    return open_bytes(session, org_id=org_id, table=TABLE, column="image", row_id=row.id, blob=row.image_enc)


def set_seal_approval(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    seal_id: str,
    requires_approval: bool,
    context: RequestContext | None = None,
) -> SealRead:
    """Turn the use-approval requirement (用印审批) of a seal on or off."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_SEALS)
    row = _seal(session, org.id, seal_id, lock=True)
    if row.requires_approval != requires_approval:
        row.requires_approval, row.updated_at = requires_approval, clock.now()
        session.flush()
        audit(
            session,
            clock,
            org_id=org.id,
            actor=actor_id,
            action="org.seal_approval_set",
            object_id=row.id,
            data={"requires_approval": requires_approval},
            context=context,
        )
    return _read(row)


def set_seal_status(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    seal_id: str,
    active: bool,
    context: RequestContext | None = None,
) -> SealRead:
    """Disable a seal (no one can use it) or enable it again."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_SEALS)
    row = _seal(session, org.id, seal_id, lock=True)
    status = ACTIVE if active else "disabled"
    if row.status != status:
        row.status, row.updated_at = status, clock.now()
        session.flush()
        audit(
            session,
            clock,
            org_id=org.id,
            actor=actor_id,
            action="org.seal_enabled" if active else "org.seal_disabled",
            object_id=row.id,
            context=context,
        )
    return _read(row)


# --- grants ---------------------------------------------------------------------------------


def grant_seal(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    seal_id: str,
    data: GrantCreate,
    context: RequestContext | None = None,
) -> GrantRead:
    """Let a member use a seal (until `expires_at`, when given)."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_SEALS)
    seal = _seal(session, org.id, seal_id)
    if seal.status != ACTIVE:
        raise OrgStateConflict("该印章已停用", detail_en="The seal is disabled")
    if membership(session, org_id=org.id, user_id=data.user_id) is None:
        raise NotFound("该用户不是企业成员", detail_en="No such member")
    now = clock.now()
    expires_at = as_utc(data.expires_at) if data.expires_at is not None else None
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("授权截止时间须晚于现在", detail_en="The expiry must be in the future")
    current = session.scalars(
        select(SealGrant).where(
            SealGrant.seal_id == seal.id, SealGrant.user_id == data.user_id, SealGrant.revoked_at.is_(None)
        )
    ).all()
    if any(not is_expired(g.expires_at, now) for g in current):
        raise Conflict("该成员已获得此印章的使用授权", detail_en="The member may use this seal already")
    row = SealGrant(
        id=new_id("sgr"),
        org_id=org.id,
        seal_id=seal.id,
        user_id=data.user_id,
        granted_by=actor_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.seal_granted",
        object_id=row.id,
        data={
            "seal_id": seal.id,
            "member": data.user_id,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        context=context,
    )
    return _grant_read(row, now)


def revoke_grant(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    seal_id: str,
    grant_id: str,
    context: RequestContext | None = None,
) -> GrantRead:
    """End a member's permission to use a seal."""
    org, _member = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_SEALS)
    row = session.get(SealGrant, grant_id) if is_id(grant_id, "sgr") else None
    if row is None or row.org_id != org.id or row.seal_id != seal_id:
        raise NotFound("授权不存在", detail_en="No such grant")
    now = clock.now()
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, actor_id
        session.flush()
        audit(
            session,
            clock,
            org_id=org.id,
            actor=actor_id,
            action="org.seal_grant_revoked",
            object_id=row.id,
            data={"seal_id": seal_id, "member": row.user_id},
            context=context,
        )
    return _grant_read(row, now)


def list_grants(*, session: Session, clock: Clock, org_id: str, user_id: str, seal_id: str) -> list[GrantRead]:
    """Return a seal's grants, newest first (any member may see who may use it)."""
    org_for(session, org_id=org_id, user_id=user_id)
    seal = _seal(session, org_id, seal_id)
    rows = session.scalars(
        select(SealGrant).where(SealGrant.seal_id == seal.id).order_by(SealGrant.created_at.desc(), SealGrant.id)
    )
    now = clock.now()
    return [_grant_read(r, now) for r in rows]


def can_use_seal(*, session: Session, org_id: str, user_id: str, seal_id: str) -> bool:
    """Tell whether the user may sign with the seal now: verified org, active seal, member, live grant."""
    org = session.get(Org, org_id)
    if org is None or org.status != VERIFIED:
        return False
    if membership(session, org_id=org_id, user_id=user_id) is None:
        return False
    seal = session.scalar(select(Seal).where(Seal.id == seal_id, Seal.org_id == org_id))
    if seal is None or seal.status != ACTIVE:
        return False
    now = runtime_of(session).clock.now()
    grants = session.scalars(
        select(SealGrant).where(
            SealGrant.seal_id == seal_id, SealGrant.user_id == user_id, SealGrant.revoked_at.is_(None)
        )
    )
    return any(not is_expired(g.expires_at, now) for g in grants)


def requires_approval(*, session: Session, org_id: str, seal_id: str) -> bool:
    """Tell whether each use of the seal needs approval (用印审批); raise SealNotFound when unknown."""
    seal = session.scalar(select(Seal).where(Seal.id == seal_id, Seal.org_id == org_id))
    if seal is None:
        raise SealNotFound()
    return seal.requires_approval
