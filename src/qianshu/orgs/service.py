"""The orgs domain's public service: enterprises, their verification, members and seals.

Other domains import this module only (`from qianshu.orgs import service as orgs_service`).
The logic lives in modules split by concern: `applications` (the application and its steps),
`reviews` (the operators' queue), `deposits` (micro-deposit bank check), `members` (roles and
invitations) and `seals` (seal images, grants, use approval).
"""

from __future__ import annotations

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
    "member_role",
    "my_invitations",
    "parse_amount",
    "remove_member",
    "request_legal_rep_confirmation",
    "requires_approval",
    "reveal_document",
    "revoke_grant",
    "revoke_invitation",
    "seal_image_for_signing",
    "set_seal_approval",
    "set_seal_status",
    "start_micro_deposit",
    "submit_legal_rep",
    "upload_authorisation_letter",
    "upload_licence",
    "upload_seal",
    "view_confirmation",
]
