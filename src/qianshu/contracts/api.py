"""REST API of contracts under /api/v1: documents, templates, contracts and signing links.

Errors are problem+json (RFC 9457) through the app's one handler. Signing-link routes need no
account: the recipient proves control of the contact with a one-time code and then sends the
access secret back as the `X-Signing-Access` header (or is signed in as that recipient).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from qianshu.contracts import apikeys, integrator
from qianshu.contracts import service as contracts_service
from qianshu.contracts.bulk import BulkSendRead, BulkTooLarge
from qianshu.contracts.handover import HandoverIn, HandoverRead
from qianshu.contracts.integrator_api import router as integrator_router
from qianshu.contracts.integrator_schemas import ContractPage
from qianshu.contracts.reminders import ReminderPolicyIn, RemindersRead, RemindRead
from qianshu.contracts.schemas import (
    AccessRead,
    CodeIn,
    ContractCreate,
    ContractRead,
    DocumentRead,
    FaceCheckIn,
    FaceTicketRead,
    FieldsPlace,
    ReasonIn,
    SealApprovalRead,
    SentRead,
    SignerView,
    SignIn,
    TemplateCreate,
    TemplateFill,
    TemplateRead,
)
from qianshu.core.auth import CurrentUser, OptionalUser, Principal
from qianshu.core.deps import ClockDep, ContextDep, DbSession, SettingsDep
from qianshu.core.errors import BadRequest
from qianshu.core.openapi import file_response
from qianshu.signing.errors import PdfTooLarge

router = APIRouter(tags=["contracts"])

AccessHeader = Annotated[str | None, Header(alias="X-Signing-Access", max_length=100)]
# A signed-in person, or an organisation's API key with the scope (then user_id is the org id).
Reader = Annotated[Principal, Depends(apikeys.caller("contracts:read"))]
Writer = Annotated[Principal, Depends(apikeys.caller("contracts:write"))]


def _pdf(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"', "Cache-Control": "no-store"},
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the request body, refusing it (413) as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PdfTooLarge(
                f"文件超过 {limit // (1024 * 1024)} MB 上限",
                detail_en=f"The file is larger than {limit} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


# --- documents and templates -----------------------------------------------------------------


@router.post("/api/v1/documents", response_model=DocumentRead, status_code=201)
async def upload_document(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    user: Writer,
    title: Annotated[str | None, Query(max_length=120)] = None,
) -> DocumentRead:
    """Upload a PDF as the request body (Content-Type: application/pdf)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/pdf":
        raise BadRequest("请以 application/pdf 上传 PDF 文件", detail_en="Send the PDF as application/pdf")
    data = await read_limited(request, settings.max_upload_bytes)
    return contracts_service.upload_document(
        session=session, clock=clock, owner_id=user.user_id, data=data, title=title
    )


@router.get("/api/v1/documents", response_model=list[DocumentRead])
def list_documents(session: DbSession, user: Reader) -> list[DocumentRead]:
    """List my documents, newest first."""
    return contracts_service.list_documents(session=session, owner_id=user.user_id)


@router.get("/api/v1/documents/{document_id}", response_model=DocumentRead)
def get_document(document_id: str, session: DbSession, user: Reader) -> DocumentRead:
    """Return one of my documents with its page boxes."""
    return contracts_service.get_document_or_raise(session=session, document_id=document_id, owner_id=user.user_id)


@router.get(
    "/api/v1/documents/{document_id}/pdf",
    response_class=Response,
    responses=file_response("application/pdf", "The document (PDF)"),
)
def document_pdf(document_id: str, session: DbSession, user: Reader) -> Response:
    """Download one of my documents."""
    return _pdf(
        contracts_service.document_pdf(session=session, document_id=document_id, owner_id=user.user_id),
        document_id,
    )


@router.get("/api/v1/templates", response_model=list[TemplateRead])
def list_templates(session: DbSession, user: OptionalUser) -> list[TemplateRead]:
    """List public templates and my own; no real-name verification needed (A7)."""
    return contracts_service.list_templates(session=session, viewer_id=user.user_id if user else None)


@router.post("/api/v1/templates", response_model=TemplateRead, status_code=201)
def create_template(data: TemplateCreate, session: DbSession, clock: ClockDep, user: CurrentUser) -> TemplateRead:
    """Create a template; `{{name}}` marks a variable."""
    return contracts_service.create_template(
        session=session, clock=clock, owner_id=user.user_id, data=data, is_operator=user.is_operator
    )


@router.get("/api/v1/templates/{template_id}", response_model=TemplateRead)
def get_template(template_id: str, session: DbSession, user: OptionalUser) -> TemplateRead:
    """Return a template I may read."""
    return contracts_service.get_template_or_raise(
        session=session, template_id=template_id, viewer_id=user.user_id if user else None
    )


@router.get(
    "/api/v1/templates/{template_id}/pdf",
    response_class=Response,
    responses=file_response("application/pdf", "The template with its placeholders (PDF)"),
)
def template_pdf(template_id: str, session: DbSession, user: OptionalUser) -> Response:
    """Download a template as a PDF with 【variable】 placeholders (A7: no verification needed)."""
    data = contracts_service.template_preview_pdf(
        session=session, template_id=template_id, viewer_id=user.user_id if user else None
    )
    return _pdf(data, template_id)


@router.post("/api/v1/templates/{template_id}/documents", response_model=DocumentRead, status_code=201)
def fill_template(
    template_id: str, data: TemplateFill, session: DbSession, clock: ClockDep, user: Writer
) -> DocumentRead:
    """Fill a template's variables and accept the PDF it makes as my document."""
    return contracts_service.document_from_template(
        session=session, clock=clock, owner_id=user.user_id, template_id=template_id, data=data
    )


# --- contracts ------------------------------------------------------------------------------


@router.post("/api/v1/contracts", response_model=ContractRead, status_code=201)
def create_contract(
    data: ContractCreate,
    session: DbSession,
    clock: ClockDep,
    user: Writer,
    context: ContextDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)] = None,
) -> ContractRead:
    """Create a draft contract: document, signers (routing order), CC, fields, deadline.

    With `Idempotency-Key`, a retry with the same body returns the first answer (header
    `Idempotent-Replayed: true`); the same key with another body is refused (422).
    """
    read, replayed = integrator.create_contract_once(
        session=session, clock=clock, owner_id=user.user_id, data=data, idempotency_key=idempotency_key, context=context
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return read


@router.get("/api/v1/contracts", response_model=ContractPage)
def list_contracts(
    session: DbSession,
    user: Reader,
    box: Annotated[str, Query(pattern="^(all|mine|others|completed|closed)$")] = "all",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ContractPage:
    """List contracts I sent or that were sent to my phone or e-mail (a key: its organisation's), newest first."""
    is_key = apikeys.org_of(user) is not None
    bidxs = [] if is_key else contracts_service.contact_indexes(session=session, user_id=user.user_id)
    return integrator.list_contracts_page(
        session=session, owner_id=user.user_id, contact_bidxs=bidxs, box=box, cursor=cursor, limit=limit
    )


@router.get("/api/v1/contracts/{contract_id}", response_model=ContractRead)
def get_contract(contract_id: str, session: DbSession, user: Reader) -> ContractRead:
    """Return one of my contracts."""
    return contracts_service.get_contract_or_raise(session=session, contract_id=contract_id, owner_id=user.user_id)


@router.post("/api/v1/contracts/{contract_id}/send", response_model=SentRead)
def send_contract(contract_id: str, session: DbSession, clock: ClockDep, user: Writer, context: ContextDep) -> SentRead:
    """Send a draft; the signing links are in the answer (and go to each signer when it is their turn)."""
    return contracts_service.send_contract(
        session=session, clock=clock, owner_id=user.user_id, contract_id=contract_id, context=context
    )


@router.put("/api/v1/contracts/{contract_id}/fields", response_model=ContractRead)
def place_fields(
    contract_id: str, data: FieldsPlace, session: DbSession, clock: ClockDep, user: Writer, context: ContextDep
) -> ContractRead:
    """Replace every signer's fields of a draft (e.g. one made from a template) in one go.

    Each signer of the draft is listed once with all its fields (exactly one signature field for
    a person, one seal field for an organisation); a signer left out would have none and is
    refused. Fields must lie on a page of the document. Once sent, fields cannot change (409).
    """
    return contracts_service.place_fields(
        session=session, clock=clock, owner_id=user.user_id, contract_id=contract_id, data=data, context=context
    )


@router.post("/api/v1/contracts/{contract_id}/revoke", response_model=ContractRead)
def revoke_contract(
    contract_id: str,
    data: ReasonIn,
    session: DbSession,
    clock: ClockDep,
    user: Writer,
    context: ContextDep,
) -> ContractRead:
    """Revoke a contract before it completes."""
    return contracts_service.revoke_contract(
        session=session,
        clock=clock,
        owner_id=user.user_id,
        contract_id=contract_id,
        reason=data.reason,
        context=context,
    )


@router.get(
    "/api/v1/contracts/{contract_id}/pdf",
    response_class=Response,
    responses=file_response("application/pdf", "The contract as it stands (PDF)"),
)
def contract_pdf(contract_id: str, session: DbSession, user: Reader) -> Response:
    """Download the contract as it stands (the signed B-LTA PDF once completed)."""
    return _pdf(
        contracts_service.contract_pdf(session=session, contract_id=contract_id, owner_id=user.user_id),
        contract_id,
    )


# --- signing links ----------------------------------------------------------------------------


def _uid(user: object) -> str | None:
    return getattr(user, "user_id", None)


@router.get("/api/v1/sign/{token}", response_model=SignerView)
def view_link(
    token: str, session: DbSession, clock: ClockDep, user: OptionalUser, access: AccessHeader = None
) -> SignerView:
    """Show what the link is for; the title appears once access is proven."""
    return contracts_service.view_link(session=session, clock=clock, token=token, access=access, user_id=_uid(user))


@router.post("/api/v1/sign/{token}/access-code", status_code=202)
def access_code(token: str, session: DbSession, clock: ClockDep, context: ContextDep) -> dict[str, str]:
    """Send a one-time code to the recipient's phone or e-mail."""
    sent_to = contracts_service.request_access_code(session=session, clock=clock, token=token, context=context)
    return {"sent_to": sent_to}


@router.post("/api/v1/sign/{token}/access", response_model=AccessRead)
def grant_access(token: str, data: CodeIn, session: DbSession, clock: ClockDep, context: ContextDep) -> AccessRead:
    """Exchange the access code for the access secret (header X-Signing-Access)."""
    return contracts_service.grant_access(session=session, clock=clock, token=token, code=data.code, context=context)


@router.post("/api/v1/sign/{token}/intent-code", status_code=202)
def intent_code(
    token: str,
    session: DbSession,
    clock: ClockDep,
    user: OptionalUser,
    context: ContextDep,
    access: AccessHeader = None,
) -> dict[str, str]:
    """Send the fresh code that confirms the intent to sign (签署意愿)."""
    sent_to = contracts_service.request_intent_code(
        session=session, clock=clock, token=token, access=access, user_id=_uid(user), context=context
    )
    return {"sent_to": sent_to}


@router.post("/api/v1/sign/{token}/face", response_model=FaceTicketRead)
def face_check(
    token: str,
    data: FaceCheckIn,
    session: DbSession,
    clock: ClockDep,
    user: OptionalUser,
    context: ContextDep,
    access: AccessHeader = None,
) -> FaceTicketRead:
    """Take the face check (人脸核验) that confirms the intent to sign, where the operator allows it."""
    try:
        photo = base64.b64decode(data.photo_b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "照片应为 Base64 编码的 JPG 或 PNG", detail_en="Send the photo as base64 JPEG or PNG"
        ) from None
    ticket = contracts_service.confirm_face(
        session=session,
        clock=clock,
        token=token,
        photo=photo,
        consent=data.consent,
        access=access,
        user_id=_uid(user),
        context=context,
    )
    return FaceTicketRead(ticket=ticket)


@router.post("/api/v1/sign/{token}/sign", response_model=SignerView)
def sign(
    token: str,
    data: SignIn,
    session: DbSession,
    clock: ClockDep,
    user: OptionalUser,
    context: ContextDep,
    access: AccessHeader = None,
) -> SignerView:
    """Fill the fields and sign with the intent code."""
    return contracts_service.sign(
        session=session,
        clock=clock,
        token=token,
        data=data,
        access=access,
        user_id=_uid(user),
        context=context,
    )


@router.post("/api/v1/sign/{token}/decline", response_model=SignerView)
def decline(
    token: str,
    data: ReasonIn,
    session: DbSession,
    clock: ClockDep,
    user: OptionalUser,
    context: ContextDep,
    access: AccessHeader = None,
) -> SignerView:
    """Decline to sign, with a reason."""
    return contracts_service.decline(
        session=session,
        clock=clock,
        token=token,
        reason=data.reason,
        access=access,
        user_id=_uid(user),
        context=context,
    )


@router.get(
    "/api/v1/sign/{token}/pdf",
    response_class=Response,
    responses=file_response("application/pdf", "The contract as it stands (PDF)"),
)
def link_pdf(
    token: str,
    session: DbSession,
    clock: ClockDep,
    user: OptionalUser,
    context: ContextDep,
    access: AccessHeader = None,
) -> Response:
    """Download the document as it stands (the signed PDF once completed)."""
    data = contracts_service.link_pdf(
        session=session, clock=clock, token=token, access=access, user_id=_uid(user), context=context
    )
    return _pdf(data, "contract")


router.include_router(integrator_router)


# --- reminders, hand-over, bulk send (contracts/reminders.py, handover.py, bulk.py) ------------


@router.get("/api/v1/contracts/{contract_id}/reminders", response_model=RemindersRead)
def get_reminders(contract_id: str, session: DbSession, user: Reader) -> RemindersRead:
    """Return the contract's reminder setting and the reminders sent so far."""
    return contracts_service.reminders_of(session=session, owner_id=user.user_id, contract_id=contract_id)


@router.put("/api/v1/contracts/{contract_id}/reminders", response_model=RemindersRead)
def set_reminders(
    contract_id: str, data: ReminderPolicyIn, session: DbSession, clock: ClockDep, user: Writer, context: ContextDep
) -> RemindersRead:
    """Set automatic reminders: every N days (0: off) and N hours before the deadline (0: off)."""
    return contracts_service.set_reminder_policy(
        session=session, clock=clock, owner_id=user.user_id, contract_id=contract_id, data=data, context=context
    )


@router.post("/api/v1/contracts/{contract_id}/remind", response_model=RemindRead)
def remind_now(
    contract_id: str,
    session: DbSession,
    clock: ClockDep,
    user: Writer,
    context: ContextDep,
    recipient_id: Annotated[str | None, Query(max_length=32)] = None,
) -> RemindRead:
    """Remind the signers whose turn it is (or `recipient_id`) now; 429 with Retry-After when too soon."""
    return contracts_service.remind_now(
        session=session,
        clock=clock,
        owner_id=user.user_id,
        contract_id=contract_id,
        recipient_id=recipient_id,
        context=context,
    )


@router.post("/api/v1/sign/{token}/handover", response_model=HandoverRead)
def hand_over(
    token: str,
    data: HandoverIn,
    session: DbSession,
    clock: ClockDep,
    user: OptionalUser,
    context: ContextDep,
    access: AccessHeader = None,
) -> HandoverRead:
    """Hand an organisation's signing over to another authorised agent; this link stops working."""
    return contracts_service.hand_over(
        session=session, clock=clock, token=token, data=data, access=access, user_id=_uid(user), context=context
    )


@router.post("/api/v1/templates/{template_id}/bulk-sends", response_model=BulkSendRead, status_code=202)
async def create_bulk_send(
    template_id: str,
    request: Request,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    user: Writer,
    context: ContextDep,
    deadline_days: Annotated[int | None, Query(ge=1, le=365)] = None,
) -> BulkSendRead:
    """Send one contract per row of a CSV (Content-Type: text/csv) against the template; see its progress."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise BadRequest("请以 text/csv 上传 CSV 文件", detail_en="Send the CSV as text/csv")
    limit, chunks, size = settings.contract_bulk_max_bytes, [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BulkTooLarge(
                f"文件超过 {max(1, limit // 1024)} KB 上限", detail_en=f"The file is larger than {limit} bytes"
            )
        chunks.append(chunk)
    return contracts_service.create_bulk_send(
        session=session,
        clock=clock,
        owner_id=user.user_id,
        template_id=template_id,
        data=b"".join(chunks),
        deadline_days=deadline_days,
        context=context,
    )


@router.get("/api/v1/bulk-sends", response_model=list[BulkSendRead])
def list_bulk_sends(session: DbSession, user: Reader) -> list[BulkSendRead]:
    """List my bulk sends, newest first, with their progress."""
    return contracts_service.list_bulk_sends(session=session, owner_id=user.user_id)


@router.get("/api/v1/bulk-sends/{bulk_id}", response_model=BulkSendRead)
def get_bulk_send(bulk_id: str, session: DbSession, user: Reader) -> BulkSendRead:
    """Return a bulk send's progress (done / total), the contracts made and the bad rows with reasons."""
    return contracts_service.get_bulk_send_or_raise(session=session, owner_id=user.user_id, bulk_id=bulk_id)


# --- seal-use approval (用印审批) --------------------------------------------------------------


@router.get("/api/v1/seal-approvals", response_model=list[SealApprovalRead])
def list_seal_approvals(
    session: DbSession,
    user: CurrentUser,
    status: Annotated[str, Query(pattern="^(pending|approved|rejected|closed|all)$")] = "pending",
) -> list[SealApprovalRead]:
    """List the seal-use requests of the organisations where I decide on seal use (owner, admin, keeper)."""
    return contracts_service.list_seal_approvals(
        session=session, user_id=user.user_id, status=None if status == "all" else status
    )


@router.get("/api/v1/seal-approvals/{approval_id}", response_model=SealApprovalRead)
def get_seal_approval(approval_id: str, session: DbSession, user: CurrentUser) -> SealApprovalRead:
    """Return one seal-use request."""
    return contracts_service.get_seal_approval(session=session, approval_id=approval_id, user_id=user.user_id)


@router.post("/api/v1/seal-approvals/{approval_id}/approve", response_model=SealApprovalRead)
def approve_seal_use(
    approval_id: str, session: DbSession, clock: ClockDep, user: CurrentUser, context: ContextDep
) -> SealApprovalRead:
    """Approve the use of the seal: the agent's signature is applied with the organisation's key."""
    return contracts_service.approve_seal_use(
        session=session, clock=clock, approval_id=approval_id, user_id=user.user_id, context=context
    )


@router.post("/api/v1/seal-approvals/{approval_id}/reject", response_model=SealApprovalRead)
def reject_seal_use(
    approval_id: str, data: ReasonIn, session: DbSession, clock: ClockDep, user: CurrentUser, context: ContextDep
) -> SealApprovalRead:
    """Reject the use of the seal with a reason; the agent is told and may sign again."""
    return contracts_service.reject_seal_use(
        session=session, clock=clock, approval_id=approval_id, user_id=user.user_id, reason=data.reason, context=context
    )
