"""REST API of preservation (存证), evidence reports (出证), bundles and public verification.

Included from `evidence/api.py`. Uploads are `multipart/form-data` (`file`, optional `label`);
hash-only preservation is JSON `{"sha256": "…", "label": "…"}` to the same URL.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from qianshu.core.auth import CurrentUser, OperatorUser
from qianshu.core.deps import ClockDep, ContextDep, DbSession, RuntimeDep
from qianshu.core.errors import BadRequest, InvalidInput
from qianshu.core.openapi import file_response
from qianshu.evidence import bundle, preservation, reports, verification
from qianshu.evidence.evidence_schemas import (
    DecisionIn,
    DeliveryRead,
    PreservationHashIn,
    PreservationRead,
    ReportRead,
    ReportRequestIn,
    VerifyOut,
)

router = APIRouter(tags=["evidence"])

PDF = "application/pdf"
ZIP = "application/zip"
_FORM = ("multipart/form-data",)


def _attachment(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _text(form: Any, name: str, limit: int = 1000) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"字段 {name} 无效", detail_en=f"Invalid field {name}")
    return value


def _upload(form: Any, name: str) -> UploadFile:
    value = form.get(name)
    if value is None or isinstance(value, str) or not getattr(value, "filename", None):
        raise InvalidInput("请选择要上传的文件", detail_en=f"Attach a file in the `{name}` field")
    upload: UploadFile = value
    return upload


# --- preservation ---------------------------------------------------------------------------


@router.post("/api/v1/preservations", status_code=201, summary="Preserve a file (multipart) or its SHA-256 (JSON)")
async def create_preservation(
    request: Request, user: CurrentUser, runtime: RuntimeDep, context: ContextDep
) -> PreservationRead:
    """Store, time-stamp, log and certify a file, or time-stamp and log a SHA-256 only."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(_FORM):
        form = await request.form()
        try:
            sha256 = _text(form, "sha256", 100)
            label = _text(form, "label", 200)
            if sha256:
                return await run_in_threadpool(
                    preservation.submit_hash,
                    runtime=runtime,
                    owner_id=user.user_id,
                    sha256=sha256,
                    label=label,
                    context=context,
                )
            upload = _upload(form, "file")
            return await run_in_threadpool(
                preservation.submit_file,
                runtime=runtime,
                owner_id=user.user_id,
                stream=upload.file,
                media_type=upload.content_type or "application/octet-stream",
                label=label if label is not None else upload.filename,
                context=context,
            )
        finally:
            await form.close()
    if "json" in ctype:
        try:
            body = PreservationHashIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise InvalidInput(
                "请提供 64 位十六进制的 sha256", detail_en="Give `sha256` as 64 hexadecimal digits"
            ) from exc
        return await run_in_threadpool(
            preservation.submit_hash,
            runtime=runtime,
            owner_id=user.user_id,
            sha256=body.sha256,
            label=body.label,
            context=context,
        )
    raise BadRequest(
        "请以 multipart/form-data 上传文件，或以 JSON 提交 sha256",
        detail_en="Send multipart/form-data with a file, or JSON with sha256",
    )


@router.get("/api/v1/preservations", summary="My preservations")
def list_preservations(user: CurrentUser, session: DbSession) -> list[PreservationRead]:
    """List the caller's preservations, newest first."""
    return preservation.list_preservations(session=session, owner_id=user.user_id)


@router.get("/api/v1/preservations/{preservation_id}", summary="One preservation")
def get_preservation(preservation_id: str, user: CurrentUser, session: DbSession) -> PreservationRead:
    """Return a preservation to its owner (or, without its label, to an operator)."""
    return preservation.get_preservation_or_raise(
        session=session, preservation_id=preservation_id, viewer_id=user.user_id, operator=user.is_operator
    )


@router.get(
    "/api/v1/preservations/{preservation_id}/certificate",
    response_class=Response,
    responses=file_response(PDF, "The signed preservation certificate (PDF)"),
)
def get_certificate(preservation_id: str, user: CurrentUser, session: DbSession) -> Response:
    """Download the signed preservation certificate (PDF); 409 while it is being made."""
    data = preservation.certificate_bytes(
        session=session, preservation_id=preservation_id, viewer_id=user.user_id, operator=user.is_operator
    )
    return _attachment(data, PDF, f"preservation-certificate-{preservation_id}.pdf")


@router.get(
    "/api/v1/preservations/{preservation_id}/original",
    response_class=Response,
    responses=file_response("application/octet-stream", "The preserved file as it was received"),
)
def get_original(preservation_id: str, user: CurrentUser, session: DbSession) -> Response:
    """Download the preserved file (owner only)."""
    data = preservation.original_bytes(session=session, preservation_id=preservation_id, viewer_id=user.user_id)
    return _attachment(data, "application/octet-stream", f"preserved-{preservation_id}.bin")


@router.get(
    "/api/v1/preservations/{preservation_id}/bundle",
    response_class=Response,
    responses=file_response(ZIP, "The evidence bundle (ZIP)"),
)
def get_preservation_bundle(preservation_id: str, user: CurrentUser, session: DbSession) -> Response:
    """Download the evidence bundle of one of the caller's preservations (ZIP)."""
    preservation.get_preservation_or_raise(session=session, preservation_id=preservation_id, viewer_id=user.user_id)
    data = bundle.build_bundle(session=session, subject_kind="preservation", subject_id=preservation_id)
    return _attachment(data, ZIP, bundle.bundle_name("preservation", preservation_id))


@router.get("/api/v1/preservations/{preservation_id}/deliveries", summary="Who received this evidence (P9)")
def get_preservation_deliveries(preservation_id: str, user: CurrentUser, session: DbSession) -> list[DeliveryRead]:
    """List every delivery of this preservation's evidence to an outside body."""
    preservation.get_preservation_or_raise(
        session=session, preservation_id=preservation_id, viewer_id=user.user_id, operator=user.is_operator
    )
    return reports.list_deliveries(session=session, subject_id=preservation_id)


# --- evidence reports -------------------------------------------------------------------------


@router.post("/api/v1/evidence-reports", status_code=201, summary="A party requests an evidence report")
def create_report(
    body: ReportRequestIn, user: CurrentUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> ReportRead:
    """File a report request on a subject the caller is party to."""
    return reports.request_report(
        session=session,
        clock=clock,
        requester_id=user.user_id,
        subject_kind=body.subject_kind,
        subject_id=body.subject_id,
        note=body.note,
        context=context,
    )


@router.post("/api/v1/evidence-reports/authority", status_code=201, summary="File an authority's request")
async def create_authority_report(
    request: Request, operator: OperatorUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> ReportRead:
    """File (operators) a documented request from an arbitration commission, court or appraisal body."""
    if not request.headers.get("content-type", "").startswith(_FORM):
        raise BadRequest("请以 multipart/form-data 提交并附请求文书", detail_en="Send multipart/form-data")
    form = await request.form()
    try:
        document = _upload(form, "document")
        return await run_in_threadpool(
            reports.request_report_for_authority,
            session=session,
            clock=clock,
            operator_id=operator.user_id,
            subject_kind=_text(form, "subject_kind", 16) or "preservation",
            subject_id=_text(form, "subject_id", 40) or "",
            authority_kind=_text(form, "authority_kind", 16) or "",
            authority_name=_text(form, "authority_name", 120) or "",
            reference_no=_text(form, "reference_no", 100) or "",
            document=document.file,
            document_media_type=document.content_type or "application/octet-stream",
            note=_text(form, "note"),
            context=context,
        )
    finally:
        await form.close()


@router.get("/api/v1/evidence-reports", summary="Report requests")
def list_reports(
    user: CurrentUser, session: DbSession, status: str | None = None, subject_id: str | None = None
) -> list[ReportRead]:
    """List requests: all for operators; the caller's own (or one subject's, when a party) otherwise."""
    return reports.list_reports(
        session=session,
        viewer_id=user.user_id,
        operator=user.is_operator,
        status=status,
        subject_id=subject_id,
    )


@router.get("/api/v1/evidence-reports/{report_id}", summary="One report request")
def get_report(report_id: str, user: CurrentUser, session: DbSession) -> ReportRead:
    """Return a request to operators, its requester and the subject's parties."""
    return reports.get_report_or_raise(
        session=session, report_id=report_id, viewer_id=user.user_id, operator=user.is_operator
    )


@router.post("/api/v1/evidence-reports/{report_id}/approve", summary="Approve and issue (operators)")
def approve_report(
    report_id: str,
    operator: OperatorUser,
    runtime: RuntimeDep,
    context: ContextDep,
    body: DecisionIn | None = None,
) -> ReportRead:
    """Approve a request; the report is issued at once when its evidence is logged (else by a job)."""
    return reports.approve_and_issue(
        runtime=runtime,
        report_id=report_id,
        operator_id=operator.user_id,
        reason=body.reason if body else None,
        context=context,
    )


@router.post("/api/v1/evidence-reports/{report_id}/reject", summary="Reject with a reason (operators)")
def reject_report(
    report_id: str,
    body: DecisionIn,
    operator: OperatorUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> ReportRead:
    """Reject a request; the reason is required and shown to the requester."""
    return reports.reject_report(
        session=session,
        clock=clock,
        report_id=report_id,
        operator_id=operator.user_id,
        reason=body.reason or "",
        context=context,
    )


@router.get(
    "/api/v1/evidence-reports/{report_id}/pdf",
    response_class=Response,
    responses=file_response(PDF, "The issued evidence report (PDF)"),
)
def get_report_pdf(
    report_id: str, user: CurrentUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Download the issued report; an operator's download for an authority is recorded as a delivery."""
    data = reports.download_report(
        session=session,
        clock=clock,
        report_id=report_id,
        viewer_id=user.user_id,
        operator=user.is_operator,
        context=context,
    )
    return _attachment(data, PDF, f"evidence-report-{report_id}.pdf")


@router.get(
    "/api/v1/evidence-reports/{report_id}/bundle",
    response_class=Response,
    responses=file_response(ZIP, "The subject's evidence bundle with the report (ZIP)"),
)
def get_report_bundle(
    report_id: str, user: CurrentUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Download the subject's bundle with the report; for an authority this is a recorded delivery."""
    name, data = reports.download_bundle(
        session=session,
        clock=clock,
        report_id=report_id,
        viewer_id=user.user_id,
        operator=user.is_operator,
        context=context,
    )
    return _attachment(data, ZIP, name)


@router.get(
    "/api/v1/evidence-reports/{report_id}/request-document",
    response_class=Response,
    responses=file_response("application/octet-stream", "The authority's request document, as uploaded"),
)
def get_request_document(report_id: str, operator: OperatorUser, session: DbSession) -> Response:
    """Download the authority's request document (operators)."""
    data, media_type = reports.request_document(session=session, report_id=report_id)
    return _attachment(data, media_type.split(";")[0], f"request-{report_id}")


@router.get("/api/v1/evidence-reports/{report_id}/deliveries", summary="Deliveries of this report (P9)")
def get_report_deliveries(report_id: str, user: CurrentUser, session: DbSession) -> list[DeliveryRead]:
    """List the deliveries of the report's subject to outside bodies."""
    found = reports.get_report_or_raise(
        session=session, report_id=report_id, viewer_id=user.user_id, operator=user.is_operator
    )
    return [d for d in reports.list_deliveries(session=session, subject_id=found.subject_id) if d.report_id == found.id]


# --- public verification ----------------------------------------------------------------------


@router.post("/api/v1/verify", summary="Verify an evidence bundle or a signed PDF (no account needed)")
async def verify(session: DbSession, context: ContextDep, file: UploadFile) -> VerifyOut:
    """Check an uploaded bundle with the offline verifier, or a PDF's signatures, against this platform."""
    data = await file.read()
    return await run_in_threadpool(verification.verify_upload, session=session, data=data, client=context.ip)
