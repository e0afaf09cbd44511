"""REST API of organisations (`/api/v1/orgs…`): verification, members, invitations, seals, review.

Uploads (licence, authorisation letter, seal) take the image as the raw request body with its
`Content-Type` (`image/jpeg`, `image/png`), which bearer-token clients can send without a CSRF
token, or as the `file` field of a multipart form (a browser form, so the CSRF rules apply).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from starlette.datastructures import UploadFile

from qianshu.core.auth import Acting, ActingUser, CurrentUser, OperatorUser
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import InvalidInput
from qianshu.core.openapi import file_response
from qianshu.orgs import service as orgs_service
from qianshu.orgs.schemas import (
    ConfirmationRead,
    ConfirmationRequest,
    ConfirmationView,
    DepositConfirm,
    DepositRead,
    DepositStart,
    DocumentRead,
    GrantCreate,
    GrantRead,
    InvitationCreate,
    InvitationRead,
    LegalRepIn,
    MemberRead,
    OrgCreate,
    OrgRead,
    OrgSummary,
    RevealIn,
    RevealRead,
    ReviewDecision,
    ReviewItem,
    RoleChange,
    SealApproval,
    SealGenerate,
    SealRead,
)

router = APIRouter(prefix="/api/v1", tags=["orgs"])
OrgId = Annotated[str, Path(min_length=1, max_length=40)]
ObjId = Annotated[str, Path(min_length=1, max_length=40)]
Token = Annotated[str, Path(min_length=16, max_length=128)]


async def _upload_body(request: Request) -> bytes:
    """Return the uploaded image: the raw body, or the `file` field of a multipart form."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInput("请在 file 字段中上传图片", detail_en="Send the image in the file field")
        return await file.read()
    return await request.body()


Upload = Annotated[bytes, Depends(_upload_body)]


def _on(act: Acting, org_id: str) -> dict[str, Any]:
    """Return the keyword arguments every orgs service action takes for `org_id`."""
    return act.args(actor_id=act.user.user_id, org_id=org_id)


# --- applications ---------------------------------------------------------------------------


@router.post("/orgs", status_code=status.HTTP_201_CREATED)
def create_org(body: OrgCreate, act: ActingUser) -> OrgRead:
    """Open an enterprise application (you become its owner)."""
    return orgs_service.create_org(**act.args(actor_id=act.user.user_id, data=body))


@router.get("/orgs")
def list_orgs(user: CurrentUser, session: DbSession) -> list[OrgSummary]:
    """List the organisations you belong to."""
    return orgs_service.list_my_orgs(session=session, user_id=user.user_id)


@router.get("/orgs/{org_id}")
def get_org(org_id: OrgId, user: CurrentUser, session: DbSession) -> OrgRead:
    """Return one of your organisations with its verification status."""
    return orgs_service.get_org(session=session, org_id=org_id, user_id=user.user_id)


@router.post("/orgs/{org_id}/licence", status_code=status.HTTP_201_CREATED)
def upload_licence(org_id: OrgId, data: Upload, act: ActingUser) -> DocumentRead:
    """Upload the business licence (JPEG or PNG) for operator review."""
    return orgs_service.upload_licence(**_on(act, org_id), data=data)


@router.get("/orgs/{org_id}/documents")
def list_documents(org_id: OrgId, user: CurrentUser, session: DbSession) -> list[DocumentRead]:
    """List the uploaded licence and letters (metadata only)."""
    return orgs_service.list_documents(session=session, org_id=org_id, user_id=user.user_id)


@router.put("/orgs/{org_id}/legal-rep")
def submit_legal_rep(org_id: OrgId, body: LegalRepIn, act: ActingUser) -> OrgRead:
    """Submit the legal representative; verified at once (your own identity or the identity provider)."""
    return orgs_service.submit_legal_rep(**_on(act, org_id), data=body)


@router.post("/orgs/{org_id}/agent/letter", status_code=status.HTTP_201_CREATED)
def upload_letter(org_id: OrgId, data: Upload, act: ActingUser) -> DocumentRead:
    """Upload the authorisation letter naming you as the organisation's agent (经办人)."""
    return orgs_service.upload_authorisation_letter(**_on(act, org_id), data=data)


@router.post("/orgs/{org_id}/agent/confirmation", status_code=status.HTTP_202_ACCEPTED)
def request_confirmation(org_id: OrgId, body: ConfirmationRequest, act: ActingUser) -> ConfirmationRead:
    """Ask the legal representative by SMS to confirm you as the organisation's agent."""
    return orgs_service.request_legal_rep_confirmation(**_on(act, org_id), phone=body.phone)


@router.get("/org-confirmations/{token}")
def view_confirmation(token: Token, user: CurrentUser, session: DbSession, clock: ClockDep) -> ConfirmationView:
    """Show what the legal representative is asked to confirm."""
    return orgs_service.view_confirmation(session=session, clock=clock, token=token)


@router.post("/org-confirmations/{token}/confirm")
def confirm(token: Token, act: ActingUser) -> ConfirmationView:
    """As the legal representative, authorise the agent."""
    return orgs_service.confirm_agent_as_legal_rep(**act.args(user_id=act.user.user_id, token=token))


# --- bank account ---------------------------------------------------------------------------


@router.post("/orgs/{org_id}/bank/deposits", status_code=status.HTTP_201_CREATED)
def start_deposit(org_id: OrgId, body: DepositStart, act: ActingUser) -> DepositRead:
    """Send a random small amount to the corporate account (micro-deposit check)."""
    return orgs_service.start_micro_deposit(**_on(act, org_id), data=body)


@router.get("/orgs/{org_id}/bank/deposit")
def current_deposit(org_id: OrgId, user: CurrentUser, session: DbSession) -> DepositRead | None:
    """Return the current micro-deposit check (null when none was started)."""
    return orgs_service.get_deposit(session=session, org_id=org_id, user_id=user.user_id)


@router.post("/orgs/{org_id}/bank/deposits/confirm")
def confirm_deposit(org_id: OrgId, body: DepositConfirm, act: ActingUser) -> DepositRead:
    """Confirm the amount received; wrong answers count towards the limit."""
    return orgs_service.confirm_micro_deposit(**_on(act, org_id), data=body)


# --- members and invitations ----------------------------------------------------------------


@router.get("/orgs/{org_id}/members")
def list_members(org_id: OrgId, user: CurrentUser, session: DbSession) -> list[MemberRead]:
    """List the organisation's members."""
    return orgs_service.list_members(session=session, org_id=org_id, user_id=user.user_id)


@router.put("/orgs/{org_id}/members/{user_id}/role")
def change_role(org_id: OrgId, user_id: ObjId, body: RoleChange, act: ActingUser) -> MemberRead:
    """Change a member's role."""
    return orgs_service.change_role(**_on(act, org_id), user_id=user_id, role=body.role)


@router.delete("/orgs/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(org_id: OrgId, user_id: ObjId, act: ActingUser) -> Response:
    """Remove a member (or leave, with your own user id)."""
    orgs_service.remove_member(**_on(act, org_id), user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/orgs/{org_id}/invitations", status_code=status.HTTP_201_CREATED)
def invite(org_id: OrgId, body: InvitationCreate, act: ActingUser) -> InvitationRead:
    """Invite a phone number or e-mail address to join with a role."""
    return orgs_service.invite_member(**_on(act, org_id), data=body)


@router.get("/orgs/{org_id}/invitations")
def list_invitations(org_id: OrgId, user: CurrentUser, session: DbSession, clock: ClockDep) -> list[InvitationRead]:
    """List the organisation's invitations."""
    return orgs_service.list_invitations(session=session, clock=clock, org_id=org_id, user_id=user.user_id)


@router.delete("/orgs/{org_id}/invitations/{invitation_id}")
def revoke_invitation(org_id: OrgId, invitation_id: ObjId, act: ActingUser) -> InvitationRead:
    """Withdraw a pending invitation."""
    return orgs_service.revoke_invitation(**_on(act, org_id), invitation_id=invitation_id)


@router.get("/org-invitations")
def my_invitations(user: CurrentUser, session: DbSession, clock: ClockDep) -> list[InvitationRead]:
    """List invitations addressed to your phone number or e-mail address."""
    return orgs_service.my_invitations(session=session, clock=clock, user_id=user.user_id)


@router.post("/org-invitations/{invitation_id}/accept")
def accept_invitation(invitation_id: ObjId, act: ActingUser) -> MemberRead:
    """Accept an invitation addressed to you."""
    return orgs_service.accept_invitation(**act.args(user_id=act.user.user_id, invitation_id=invitation_id))


# --- seals ----------------------------------------------------------------------------------


@router.post("/orgs/{org_id}/seals", status_code=status.HTTP_201_CREATED)
def generate_seal(org_id: OrgId, body: SealGenerate, act: ActingUser) -> SealRead:
    """Draw a round seal from the organisation's name."""
    return orgs_service.create_generated_seal(**_on(act, org_id), data=body)


@router.post("/orgs/{org_id}/seals/upload", status_code=status.HTTP_201_CREATED)
def upload_seal(
    org_id: OrgId,
    data: Upload,
    name: Annotated[str, Query(min_length=1, max_length=20)],
    act: ActingUser,
    requires_approval: Annotated[bool, Query()] = False,
) -> SealRead:
    """Upload a seal image: a PNG with a transparent background (`?name=` names the seal)."""
    return orgs_service.upload_seal(**_on(act, org_id), name=name, data=data, requires_approval=requires_approval)


@router.get("/orgs/{org_id}/seals")
def list_seals(org_id: OrgId, user: CurrentUser, session: DbSession) -> list[SealRead]:
    """List the organisation's seals."""
    return orgs_service.list_seals(session=session, org_id=org_id, user_id=user.user_id)


@router.get("/orgs/{org_id}/seals/{seal_id}")
def get_seal(org_id: OrgId, seal_id: ObjId, user: CurrentUser, session: DbSession) -> SealRead:
    """Return one seal."""
    return orgs_service.get_seal(session=session, org_id=org_id, user_id=user.user_id, seal_id=seal_id)


@router.get(
    "/orgs/{org_id}/seals/{seal_id}/image",
    response_class=Response,
    responses=file_response("image/png", "The seal image (PNG)"),
)
def seal_image(org_id: OrgId, seal_id: ObjId, user: CurrentUser, session: DbSession) -> Response:
    """Return the seal's PNG (members only; never cached by shared caches)."""
    png = orgs_service.get_seal_image(session=session, org_id=org_id, user_id=user.user_id, seal_id=seal_id)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.put("/orgs/{org_id}/seals/{seal_id}/approval")
def set_approval(org_id: OrgId, seal_id: ObjId, body: SealApproval, act: ActingUser) -> SealRead:
    """Require (or stop requiring) approval for each use of the seal."""
    return orgs_service.set_seal_approval(**_on(act, org_id), seal_id=seal_id, requires_approval=body.requires_approval)


@router.post("/orgs/{org_id}/seals/{seal_id}/grants", status_code=status.HTTP_201_CREATED)
def grant(org_id: OrgId, seal_id: ObjId, body: GrantCreate, act: ActingUser) -> GrantRead:
    """Let a member use the seal."""
    return orgs_service.grant_seal(**_on(act, org_id), seal_id=seal_id, data=body)


@router.get("/orgs/{org_id}/seals/{seal_id}/grants")
def list_grants(
    org_id: OrgId, seal_id: ObjId, user: CurrentUser, session: DbSession, clock: ClockDep
) -> list[GrantRead]:
    """List who may use the seal."""
    return orgs_service.list_grants(session=session, clock=clock, org_id=org_id, user_id=user.user_id, seal_id=seal_id)


@router.delete("/orgs/{org_id}/seals/{seal_id}/grants/{grant_id}")
def revoke_grant(org_id: OrgId, seal_id: ObjId, grant_id: ObjId, act: ActingUser) -> GrantRead:
    """End a member's permission to use the seal."""
    return orgs_service.revoke_grant(**_on(act, org_id), seal_id=seal_id, grant_id=grant_id)


# --- operators ------------------------------------------------------------------------------


@router.get("/operator/org-reviews")
def review_queue(
    operator: OperatorUser,
    session: DbSession,
    kind: Annotated[str | None, Query(pattern="^(licence|authorisation_letter)$")] = None,
) -> list[ReviewItem]:
    """List documents waiting for review (masked)."""
    return orgs_service.list_review_queue(session=session, kind=kind)


def _as_operator(operator: OperatorUser, session: DbSession, clock: ClockDep, context: ContextDep) -> Acting:
    return Acting(user=operator, session=session, clock=clock, context=context)


Reviewing = Annotated[Acting, Depends(_as_operator)]


@router.post("/operator/org-reviews/{document_id}/reveal")
def reveal(document_id: ObjId, body: RevealIn, act: Reviewing) -> RevealRead:
    """Open a document image with a stated reason (logged in the staff-access log)."""
    return orgs_service.reveal_document(
        **act.args(operator_id=act.user.user_id, document_id=document_id, reason=body.reason, note=body.note)
    )


@router.post("/operator/org-reviews/{document_id}/decision")
def decide(document_id: ObjId, body: ReviewDecision, act: Reviewing) -> DocumentRead:
    """Approve or reject a document."""
    return orgs_service.decide_document(
        **act.args(operator_id=act.user.user_id, document_id=document_id, decision=body)
    )
