"""Members and roles of an organisation, and invitations by phone number or e-mail address.

An invitation is addressed to a contact, stored as a blind index (to match the invitee's account)
and a vault ciphertext (to show it masked to administrators). Whoever signs in with that phone
number or e-mail address sees the invitation and may accept it; nobody else can.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.ids import is_id, new_id
from qianshu.core.runtime import runtime_of
from qianshu.orgs import persons
from qianshu.orgs.applications import clean_phone
from qianshu.orgs.errors import InvitationNotFound, OrgForbidden, PersonNotVerified
from qianshu.orgs.models import Org, OrgInvitation, OrgMember, SealGrant
from qianshu.orgs.records import ACTIVE, REMOVED, audit, is_expired, membership, open_text, org_for, seal_text
from qianshu.orgs.roles import Permission, Role, label
from qianshu.orgs.schemas import InvitationCreate, InvitationRead, MemberRead
from qianshu.vault import service as vault_service
from qianshu.vault.masking import mask_email, mask_phone
from qianshu.vault.normalise import normalise_email

TABLE = "orgs_invitation"
PENDING, ACCEPTED, REVOKED = "pending", "accepted", "revoked"
_EMAIL = re.compile(r"^[^\s@\x00-\x1f\x7f<>,;\"]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


def _contact(data: InvitationCreate) -> tuple[str, str]:
    if data.phone:
        return "phone", clean_phone(data.phone)
    address = normalise_email(data.email or "")
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        raise InvalidInput("请输入有效的邮箱地址", detail_en="Enter a valid e-mail address")
    return "email", address


def _label(session: Session, user_id: str) -> str:
    from qianshu.accounts import service as accounts_service

    try:
        profile = accounts_service.get_profile(session=session, user_id=user_id)
    except NotFound:
        return "—"
    return profile.display_name or profile.phone or profile.email or "—"


def _member_read(session: Session, row: OrgMember) -> MemberRead:
    return MemberRead(
        org_id=row.org_id,
        user_id=row.user_id,
        role=row.role,
        status=row.status,
        label=_label(session, row.user_id),
        joined_at=row.created_at,
    )


def _masked_contact(session: Session, row: OrgInvitation) -> str:
    try:
        value = open_text(
            session, org_id=row.org_id, table=TABLE, column="contact", row_id=row.id, blob=row.contact_enc
        )
    except vault_service.DataShredded:
        return "***"
    return mask_phone(value) if row.channel == "phone" else mask_email(value)


def _invitation_read(session: Session, row: OrgInvitation, org: Org, now_status: str) -> InvitationRead:
    return InvitationRead(
        id=row.id,
        org_id=org.id,
        org_name=org.name,
        role=row.role,
        channel=row.channel,
        sent_to=_masked_contact(session, row),
        status=now_status,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _status(row: OrgInvitation, clock: Clock) -> str:
    return "expired" if row.status == PENDING and is_expired(row.expires_at, clock.now()) else row.status


# --- members --------------------------------------------------------------------------------


def list_members(*, session: Session, org_id: str, user_id: str) -> list[MemberRead]:
    """Return the active members of an organisation (any member may look)."""
    org_for(session, org_id=org_id, user_id=user_id)
    rows = session.scalars(
        select(OrgMember)
        .where(OrgMember.org_id == org_id, OrgMember.status == ACTIVE)
        .order_by(OrgMember.created_at, OrgMember.id)
    )
    return [_member_read(session, r) for r in rows]


def _owners(session: Session, org_id: str) -> int:
    return len(
        session.scalars(
            select(OrgMember.id).where(
                OrgMember.org_id == org_id, OrgMember.status == ACTIVE, OrgMember.role == Role.OWNER.value
            )
        ).all()
    )


def _check_may_manage(actor: OrgMember, *, target_role: str, new_role: str | None = None) -> None:
    """Admins manage everyone but owners, and cannot make owners; owners manage everyone."""
    if actor.role == Role.OWNER.value:
        return
    if target_role == Role.OWNER.value or new_role == Role.OWNER.value:
        raise OrgForbidden("只有所有者可以管理所有者", detail_en="Only owners can manage owners")


def change_role(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    user_id: str,
    role: str,
    context: RequestContext | None = None,
) -> MemberRead:
    """Give a member a new role (owners and admins; the last owner stays an owner)."""
    role = Role(role).value
    org, actor = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_MEMBERS, lock=True)
    target = membership(session, org_id=org.id, user_id=user_id)
    if target is None:
        raise NotFound("该用户不是企业成员", detail_en="No such member")
    _check_may_manage(actor, target_role=target.role, new_role=role)
    if target.role == role:
        return _member_read(session, target)
    if target.role == Role.OWNER.value and _owners(session, org.id) <= 1:
        raise Conflict("企业至少需要一位所有者", detail_en="An organisation needs at least one owner")
    if role == Role.AGENT.value and not persons.is_verified(session=session, user_id=user_id):
        raise PersonNotVerified("经办人须先完成个人实名认证", detail_en="An agent must complete real-name verification")
    previous = target.role
    target.role, target.updated_at = role, clock.now()
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.member_role_changed",
        object_id=target.id,
        data={"member": user_id, "from": previous, "to": role},
        context=context,
    )
    return _member_read(session, target)


def _revoke_grants_of(session: Session, clock: Clock, *, org_id: str, user_id: str, actor_id: str) -> int:
    result = session.execute(
        update(SealGrant)
        .where(SealGrant.org_id == org_id, SealGrant.user_id == user_id, SealGrant.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoked_by=actor_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def remove_member(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    user_id: str,
    context: RequestContext | None = None,
) -> None:
    """Remove a member (or leave, when `user_id` is the actor); their seal grants end with it."""
    leaving = actor_id == user_id
    permission = Permission.VIEW if leaving else Permission.MANAGE_MEMBERS
    org, actor = org_for(session, org_id=org_id, user_id=actor_id, permission=permission, lock=True)
    target = actor if leaving else membership(session, org_id=org.id, user_id=user_id)
    if target is None:
        raise NotFound("该用户不是企业成员", detail_en="No such member")
    if not leaving:
        _check_may_manage(actor, target_role=target.role)
    if target.role == Role.OWNER.value and _owners(session, org.id) <= 1:
        raise Conflict("企业至少需要一位所有者", detail_en="An organisation needs at least one owner")
    target.status, target.updated_at = REMOVED, clock.now()
    revoked = _revoke_grants_of(session, clock, org_id=org.id, user_id=user_id, actor_id=actor_id)
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.member_left" if leaving else "org.member_removed",
        object_id=target.id,
        data={"member": user_id, "grants_revoked": revoked},
        context=context,
    )


# --- invitations ----------------------------------------------------------------------------


def invite_member(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    data: InvitationCreate,
    context: RequestContext | None = None,
) -> InvitationRead:
    """Invite a phone number or e-mail address to join with a role, and tell them by SMS or e-mail."""
    org, actor = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_MEMBERS)
    _check_may_manage(actor, target_role=data.role, new_role=data.role)
    channel, value = _contact(data)
    bidx = vault_service.blind_index(session=session, kind=channel, value=value)
    now = clock.now()
    open_ = session.scalars(
        select(OrgInvitation).where(
            OrgInvitation.org_id == org.id,
            OrgInvitation.contact_bidx == bidx,
            OrgInvitation.status == PENDING,
        )
    ).all()
    if any(not is_expired(r.expires_at, now) for r in open_):
        raise Conflict("已向该联系方式发出邀请", detail_en="This contact has a pending invitation already")
    settings = runtime_of(session).settings
    from qianshu.core.ratelimit import Limit, enforce

    enforce(runtime_of(session), f"orgs.invite:{org.id}", Limit(50, 24 * 3600))
    invitation_id = new_id("inv")
    row = OrgInvitation(
        id=invitation_id,
        org_id=org.id,
        role=data.role,
        channel=channel,
        contact_bidx=bidx,
        contact_enc=seal_text(session, org_id=org.id, table=TABLE, column="contact", row_id=invitation_id, value=value),
        status=PENDING,
        invited_by=actor_id,
        created_at=now,
        expires_at=now + timedelta(days=settings.org_invitation_days),
    )
    session.add(row)
    session.flush()
    from qianshu.notify import service as notify_service

    locale = context.locale if context is not None else "zh-CN"
    params: dict[str, object] = {"org_name": org.name, "role": label(data.role, locale)}
    if channel == "phone":
        notify_service.send_sms(
            session=session,
            clock=clock,
            subject_id=org.id,
            phone=value,
            template="org_invitation",
            params=params,
            locale=locale,
        )
    else:
        notify_service.send_email(
            session=session,
            clock=clock,
            subject_id=org.id,
            email=value,
            template="org_invitation",
            params=params,
            locale=locale,
        )
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.member_invited",
        object_id=row.id,
        data={"role": data.role, "channel": channel},
        context=context,
    )
    return _invitation_read(session, row, org, PENDING)


def list_invitations(*, session: Session, clock: Clock, org_id: str, user_id: str) -> list[InvitationRead]:
    """Return the organisation's invitations, newest first (owners and admins)."""
    org, _actor = org_for(session, org_id=org_id, user_id=user_id, permission=Permission.MANAGE_MEMBERS)
    rows = session.scalars(
        select(OrgInvitation).where(OrgInvitation.org_id == org.id).order_by(OrgInvitation.created_at.desc())
    )
    return [_invitation_read(session, r, org, _status(r, clock)) for r in rows]


def revoke_invitation(
    *,
    session: Session,
    clock: Clock,
    actor_id: str,
    org_id: str,
    invitation_id: str,
    context: RequestContext | None = None,
) -> InvitationRead:
    """Withdraw a pending invitation."""
    org, actor = org_for(session, org_id=org_id, user_id=actor_id, permission=Permission.MANAGE_MEMBERS)
    row = session.get(OrgInvitation, invitation_id) if is_id(invitation_id, "inv") else None
    if row is None or row.org_id != org.id:
        raise InvitationNotFound()
    _check_may_manage(actor, target_role=row.role)
    if row.status != PENDING:
        raise Conflict("该邀请已处理", detail_en="The invitation was handled already")
    row.status = REVOKED
    session.flush()
    audit(
        session,
        clock,
        org_id=org.id,
        actor=actor_id,
        action="org.invitation_revoked",
        object_id=row.id,
        context=context,
    )
    return _invitation_read(session, row, org, REVOKED)


def _my_bidxs(session: Session, user_id: str) -> list[str]:
    from qianshu.accounts import service as accounts_service

    contact = accounts_service.get_contact(session=session, user_id=user_id)
    found = []
    if contact.phone:
        found.append(vault_service.blind_index(session=session, kind="phone", value=contact.phone))
    if contact.email:
        found.append(vault_service.blind_index(session=session, kind="email", value=contact.email))
    return found


def my_invitations(*, session: Session, clock: Clock, user_id: str) -> list[InvitationRead]:
    """Return the pending, unexpired invitations addressed to the user's phone or e-mail."""
    bidxs = _my_bidxs(session, user_id)
    if not bidxs:
        return []
    rows = session.execute(
        select(OrgInvitation, Org)
        .join(Org, Org.id == OrgInvitation.org_id)
        .where(OrgInvitation.contact_bidx.in_(bidxs), OrgInvitation.status == PENDING)
        .order_by(OrgInvitation.created_at.desc())
    ).all()
    now = clock.now()
    return [
        _invitation_read(session, inv, org, PENDING)
        for inv, org in rows
        if not is_expired(inv.expires_at, now) and membership(session, org_id=org.id, user_id=user_id) is None
    ]


def accept_invitation(
    *, session: Session, clock: Clock, user_id: str, invitation_id: str, context: RequestContext | None = None
) -> MemberRead:
    """Join the organisation with the invited role (only the owner of the invited contact can)."""
    row = (
        session.scalar(select(OrgInvitation).where(OrgInvitation.id == invitation_id).with_for_update())
        if is_id(invitation_id, "inv")
        else None
    )
    if row is None or row.status != PENDING or is_expired(row.expires_at, clock.now()):
        raise InvitationNotFound()
    if row.contact_bidx not in _my_bidxs(session, user_id):
        raise InvitationNotFound()
    if row.role == Role.AGENT.value and not persons.is_verified(session=session, user_id=user_id):
        raise PersonNotVerified(
            "经办人须先完成个人实名认证，再接受邀请",
            detail_en="Complete real-name verification to join as an agent",
        )
    now = clock.now()
    member = session.scalar(select(OrgMember).where(OrgMember.org_id == row.org_id, OrgMember.user_id == user_id))
    if member is not None and member.status == ACTIVE:
        raise Conflict("您已是该企业成员", detail_en="You are a member already")
    if member is None:
        member = OrgMember(
            id=new_id("mem"),
            org_id=row.org_id,
            user_id=user_id,
            role=row.role,
            status=ACTIVE,
            added_by=row.invited_by,
            created_at=now,
            updated_at=now,
        )
        session.add(member)
    else:
        member.role, member.status, member.added_by, member.created_at, member.updated_at = (
            row.role,
            ACTIVE,
            row.invited_by,
            now,
            now,
        )
    row.status, row.accepted_by, row.accepted_at = ACCEPTED, user_id, now
    session.flush()
    audit(
        session,
        clock,
        org_id=row.org_id,
        actor=user_id,
        action="org.member_joined",
        object_id=member.id,
        data={"invitation_id": row.id, "role": row.role, "member": user_id},
        context=context,
    )
    return _member_read(session, member)
