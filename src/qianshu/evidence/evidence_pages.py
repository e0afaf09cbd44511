"""Pages of preservation, evidence reports (with the operator's queue) and the public verify page.

Included from `evidence/pages.py`. Forms post back here and redirect (303) with a `notice`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from qianshu.core.auth import OptionalUser, PageOperator, PageUser
from qianshu.core.deps import ClockDep, ContextDep, DbSession, RuntimeDep
from qianshu.core.errors import InvalidInput, NotFound, QianshuError
from qianshu.evidence import preservation, reports, verification
from qianshu.evidence.evidence_schemas import AuthorityKind
from qianshu.web.render import render

router = APIRouter(include_in_schema=False)

REPORT_STATUSES = ("requested", "approved", "issued", "rejected")


def _text(form: Any, name: str, limit: int = 1000) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    text = str(value)
    if len(text) > limit:
        raise InvalidInput(f"字段 {name} 过长", detail_en=f"Field {name} is too long")
    return text.strip() or None


def _file(form: Any, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


# --- preservation ---------------------------------------------------------------------------


@router.get("/evidence/preserve", response_class=HTMLResponse)
def preserve_page(request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show the preservation form (upload a file, or give only its SHA-256) and the user's records."""
    records = preservation.list_preservations(session=session, owner_id=user.user_id)
    return render(request, "evidence/preserve.html", {"records": records, "error": None, "mode": "file"})


@router.post("/evidence/preserve", response_class=HTMLResponse, response_model=None)
async def preserve_submit(
    request: Request, user: PageUser, runtime: RuntimeDep, session: DbSession, context: ContextDep
) -> HTMLResponse | RedirectResponse:
    """Preserve the uploaded file or the given SHA-256, then show the record."""
    form = await request.form()
    mode = "hash" if _text(form, "mode", 8) == "hash" else "file"
    try:
        label = _text(form, "label", 200)
        if mode == "hash":
            record = await run_in_threadpool(
                preservation.submit_hash,
                runtime=runtime,
                owner_id=user.user_id,
                sha256=_text(form, "sha256", 100) or "",
                label=label,
                context=context,
            )
        else:
            upload = _file(form, "file")
            if upload is None:
                raise InvalidInput("请选择要存证的文件", detail_en="Choose a file to preserve")
            record = await run_in_threadpool(
                preservation.submit_file,
                runtime=runtime,
                owner_id=user.user_id,
                stream=upload.file,
                media_type=upload.content_type or "application/octet-stream",
                label=label or upload.filename,
                context=context,
            )
    except InvalidInput as exc:
        records = await run_in_threadpool(preservation.list_preservations, session=session, owner_id=user.user_id)
        message = exc.detail_en if _locale(request) == "en" else exc.detail
        return render(
            request,
            "evidence/preserve.html",
            {"records": records, "error": message, "mode": mode},
            status_code=422,
        )
    finally:
        await form.close()
    return RedirectResponse(f"/evidence/preservations/{record.id}?notice=evidence_preserved", status_code=303)


@router.get("/evidence/preservations/{preservation_id}", response_class=HTMLResponse)
def preservation_page(preservation_id: str, request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show one preservation: hash, time-stamp, log entry, certificate, reports and deliveries (P9)."""
    record = preservation.get_preservation_or_raise(
        session=session, preservation_id=preservation_id, viewer_id=user.user_id, operator=user.is_operator
    )
    requests = reports.list_reports(
        session=session, viewer_id=user.user_id, operator=user.is_operator, subject_id=record.id
    )
    deliveries = reports.list_deliveries(session=session, subject_id=record.id)
    return render(
        request,
        "evidence/preservation.html",
        {
            "record": record,
            "requests": requests,
            "deliveries": deliveries,
            "is_owner": record.owner_id == user.user_id,
            "can_request": record.owner_id == user.user_id
            and not any(r.status in ("requested", "approved") and r.requested_by == user.user_id for r in requests),
        },
    )


@router.post("/evidence/preservations/{preservation_id}/reports")
async def request_report_submit(
    preservation_id: str,
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> RedirectResponse:
    """File the owner's request for an evidence report on this preservation."""
    form = await request.form()
    note = _text(form, "note")
    await form.close()
    created = await run_in_threadpool(
        reports.request_report,
        session=session,
        clock=clock,
        requester_id=user.user_id,
        subject_kind="preservation",
        subject_id=preservation_id,
        note=note,
        context=context,
    )
    return RedirectResponse(f"/evidence/reports/{created.id}?notice=evidence_report_requested", status_code=303)


# --- reports --------------------------------------------------------------------------------


@router.get("/evidence/reports/{report_id}", response_class=HTMLResponse)
def report_page(report_id: str, request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show a report request: status, decision and downloads, and the deliveries it led to."""
    found = reports.get_report_or_raise(
        session=session, report_id=report_id, viewer_id=user.user_id, operator=user.is_operator
    )
    deliveries = [
        d for d in reports.list_deliveries(session=session, subject_id=found.subject_id) if d.report_id == found.id
    ]
    may_download = user.is_operator or (found.channel == "party" and found.requested_by == user.user_id)
    return render(
        request,
        "evidence/report.html",
        {
            "report": found,
            "deliveries": deliveries,
            "may_download": may_download,
            "is_operator": user.is_operator,
        },
    )


@router.get("/operator/evidence/reports", response_class=HTMLResponse)
def operator_reports_page(
    request: Request, operator: PageOperator, session: DbSession, status: str | None = "requested"
) -> HTMLResponse:
    """Show the operators' queue of report requests, filtered by status."""
    wanted = status if status in REPORT_STATUSES else None
    found = reports.list_reports(session=session, viewer_id=operator.user_id, operator=True, status=wanted)
    return render(
        request,
        "evidence/operator_reports.html",
        {"reports": found, "status": wanted, "statuses": REPORT_STATUSES},
    )


@router.get("/operator/evidence/reports/new", response_class=HTMLResponse)
def operator_new_report_page(request: Request, operator: PageOperator, subject_id: str = "") -> HTMLResponse:
    """Show the form to file a request from an arbitration commission, court or appraisal body."""
    return render(
        request,
        "evidence/operator_report_new.html",
        {"kinds": list(AuthorityKind), "form": {"subject_id": subject_id}, "error": None},
    )


@router.post("/operator/evidence/reports", response_class=HTMLResponse, response_model=None)
async def operator_new_report_submit(
    request: Request, operator: PageOperator, session: DbSession, clock: ClockDep, context: ContextDep
) -> HTMLResponse | RedirectResponse:
    """File the authority's request with its document, then show it."""
    form = await request.form()
    values = {
        name: _text(form, name, 120) or ""
        for name in ("subject_id", "authority_kind", "authority_name", "reference_no")
    }
    try:
        document = _file(form, "document")
        if document is None:
            raise InvalidInput("请上传请求文书（如调取证据通知书）", detail_en="Upload the request document")
        created = await run_in_threadpool(
            reports.request_report_for_authority,
            session=session,
            clock=clock,
            operator_id=operator.user_id,
            subject_kind="preservation",
            subject_id=values["subject_id"],
            authority_kind=values["authority_kind"],
            authority_name=values["authority_name"],
            reference_no=values["reference_no"],
            document=document.file,
            document_media_type=document.content_type or "application/octet-stream",
            note=_text(form, "note"),
            context=context,
        )
    except (InvalidInput, NotFound) as exc:
        message = exc.detail_en if _locale(request) == "en" else exc.detail
        return render(
            request,
            "evidence/operator_report_new.html",
            {"kinds": list(AuthorityKind), "form": values, "error": message},
            status_code=exc.status,
        )
    finally:
        await form.close()
    return RedirectResponse(f"/evidence/reports/{created.id}?notice=evidence_report_requested", status_code=303)


@router.post("/operator/evidence/reports/{report_id}/decision")
async def operator_decide(
    report_id: str,
    request: Request,
    operator: PageOperator,
    runtime: RuntimeDep,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> RedirectResponse:
    """Approve (and issue) or reject a request, with the operator's reason."""
    form = await request.form()
    decision, reason = _text(form, "decision", 8), _text(form, "reason")
    await form.close()
    if decision == "approve":
        await run_in_threadpool(
            reports.approve_and_issue,
            runtime=runtime,
            report_id=report_id,
            operator_id=operator.user_id,
            reason=reason,
            context=context,
        )
        notice = "evidence_report_approved"
    elif decision == "reject":
        await run_in_threadpool(
            reports.reject_report,
            session=session,
            clock=clock,
            report_id=report_id,
            operator_id=operator.user_id,
            reason=reason or "",
            context=context,
        )
        notice = "evidence_report_rejected"
    else:
        raise InvalidInput("请选择批准或驳回", detail_en="Choose approve or reject")
    return RedirectResponse(f"/evidence/reports/{report_id}?notice={notice}", status_code=303)


# --- public verification ----------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, user: OptionalUser) -> HTMLResponse:
    """Show the public verify page: upload a bundle or a signed PDF, no account needed (E4)."""
    return render(request, "evidence/verify.html", {"result": None, "error": None})


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(request: Request, user: OptionalUser, session: DbSession, context: ContextDep) -> HTMLResponse:
    """Verify the uploaded file and show each step's outcome."""
    form = await request.form()
    try:
        upload = _file(form, "file")
        if upload is None:
            raise InvalidInput("请选择要验证的文件", detail_en="Choose a file to verify")
        data = await upload.read()
        result = await run_in_threadpool(verification.verify_upload, session=session, data=data, client=context.ip)
    except QianshuError as exc:
        message = exc.detail_en if _locale(request) == "en" else exc.detail
        return render(request, "evidence/verify.html", {"result": None, "error": message}, status_code=exc.status)
    finally:
        await form.close()
    return render(request, "evidence/verify.html", {"result": result, "error": None})
