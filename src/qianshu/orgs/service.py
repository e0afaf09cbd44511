"""The orgs domain's public service: enterprises, their verification, members and seals.

Other domains import this module only (`from qianshu.orgs import service as orgs_service`).
The logic lives in modules split by concern: `applications` (the application and its steps),
`reviews` (the operators' queue), `deposits` (micro-deposit bank check), `members` (roles and
invitations) and `seals` (seal images, grants, use approval).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.orgs.applications import (
    OrgInfo,
    check_uscc,
    complete_if_ready,
    confirm_agent_as_legal_rep,
    create_org,
    get_org,
    get_org_info,
    list_documents,
    list_my_orgs,
    member_role,
    request_legal_rep_confirmation,
    submit_legal_rep,
    upload_authorisation_letter,
    upload_licence,
    view_confirmation,
)
from qianshu.orgs.deposits import (
    bank_transfers,
    confirm_micro_deposit,
    get_deposit,
    parse_amount,
    start_micro_deposit,
)
from qianshu.orgs.members import (
    accept_invitation,
    change_role,
    invite_member,
    list_invitations,
    list_members,
    my_invitations,
    remove_member,
    revoke_invitation,
)
from qianshu.orgs.reviews import decide_document, list_review_queue, reveal_document
from qianshu.orgs.seals import (
    can_use_seal,
    create_generated_seal,
    get_seal,
    get_seal_image,
    grant_seal,
    list_grants,
    list_seals,
    requires_approval,
    revoke_grant,
    seal_image_for_signing,
    set_seal_approval,
    set_seal_status,
    upload_seal,
)

__all__ = [
    "OrgInfo",
    "accept_invitation",
    "bank_transfers",
    "can_use_seal",
    "change_role",
    "check_uscc",
    "complete_if_ready",
    "confirm_agent_as_legal_rep",
    "confirm_micro_deposit",
    "create_generated_seal",
    "create_org",
    "decide_document",
    "get_deposit",
    "get_org",
    "get_org_info",
    "get_seal",
    "get_seal_image",
    "grant_seal",
    "invite_member",
    "list_documents",
    "list_grants",
    "list_invitations",
    "list_members",
    "list_my_orgs",
    "list_review_queue",
    "list_seals",
    "may_approve_seal_use",
    "member_role",
    "my_invitations",
    "parse_amount",
    "record_seal_use",
    "remove_member",
    "request_legal_rep_confirmation",
    "requires_approval",
    "reveal_document",
    "revoke_grant",
    "revoke_invitation",
    "seal_image_for_signing",
    "seal_keepers",
    "set_seal_approval",
    "set_seal_status",
    "start_micro_deposit",
    "submit_legal_rep",
    "upload_authorisation_letter",
    "upload_licence",
    "upload_seal",
    "view_confirmation",
]


# --- seal-use approval (用印审批), for the contracts workflow ----------------------------------

_SEAL_USE_ACTIONS = ("org.seal_use_requested", "org.seal_use_approved", "org.seal_use_rejected")


def may_approve_seal_use(*, session: Session, org_id: str, user_id: str) -> bool:
    """Tell whether the user decides on uses of the organisation's seals (owner, admin, seal keeper)."""
    from qianshu.orgs.records import membership
    from qianshu.orgs.roles import Permission, allows

    member = membership(session, org_id=org_id, user_id=user_id)
    return member is not None and allows(member.role, Permission.MANAGE_SEALS)


def seal_keepers(*, session: Session, org_id: str) -> list[str]:
    """Return the user ids of the members who decide on seal use (to tell them of a request)."""
    from sqlalchemy import select

    from qianshu.orgs.models import OrgMember
    from qianshu.orgs.records import ACTIVE
    from qianshu.orgs.roles import Permission, allows

    rows = session.scalars(
        select(OrgMember).where(OrgMember.org_id == org_id, OrgMember.status == ACTIVE).order_by(OrgMember.id)
    )
    return [m.user_id for m in rows if allows(m.role, Permission.MANAGE_SEALS)]


def record_seal_use(
    *,
    session: Session,
    clock: Clock,
    org_id: str,
    actor: str,
    action: str,
    object_id: str,
    data: dict[str, Any],
    context: RequestContext | None = None,
) -> str:
    """Record a seal-use request or decision on the organisation's audit chain; return the event id."""
    from qianshu.orgs.records import audit

    if action not in _SEAL_USE_ACTIONS:
        raise ValueError(action)
    return audit(
        session, clock, org_id=org_id, actor=actor, action=action, object_id=object_id, data=data, context=context
    )
