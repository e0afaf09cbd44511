"""HTML pages of contracts: my contracts, a new contract, its detail, templates, and the signer's page.

Plain POST forms with the CSRF field; success answers 303 (post/redirect/get) to a page showing a
notice; a failure rolls back what the attempt wrote and renders the same page again with a
readable message and the error's status (never JSON shown to a person).

The signer proves control of the phone or e-mail with a one-time code (or is signed in as that
recipient); the access secret then rides in an HttpOnly cookie limited to the link's own path.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Callable
from datetime import datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from qianshu.contracts import service as contracts_service
from qianshu.contracts import signers
from qianshu.contracts.errors import FieldInvalid, TemplateInvalid
from qianshu.contracts.placement import parse_placement
from qianshu.contracts.qr import qr_data_url
from qianshu.contracts.schemas import (
    SIGNATURE_KINDS,
    ContractCreate,
    SignerView,
    SignIn,
    TemplateCreate,
    TemplateFill,
)
from qianshu.contracts.signers import ACCESS_TTL
from qianshu.core.auth import OptionalUser, PageUser, Principal
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.runtime import Runtime
from qianshu.web.i18n import has_key
from qianshu.web.render import Notice, render

router = APIRouter(include_in_schema=False)

ACCESS_COOKIE = "qs_sign_access"
MAX_SIGNERS = 4
BOXES = ("all", "mine", "others", "completed", "closed")
CHINA = ZoneInfo("Asia/Shanghai")
_MAX_FIELD = 2000
_MAX_HANDWRITING = 2 * 1024 * 1024
_FIELD_W, _FIELD_H = 150.0, 70.0


# --- helpers --------------------------------------------------------------------------------


def _locale(request: Request) -> str:
    return str(getattr(request.state, "locale", "zh-CN"))


def _redirect(path: str, notice: str | None = None, **params: str) -> RedirectResponse:
    query = {k: v for k, v in params.items() if v}
    if notice:
        query["notice"] = notice
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


def _error_context(request: Request, session: Session, error: QianshuError | None) -> tuple[dict[str, Any], int]:
    if error is None:
        return {}, 200
    session.rollback()
    problem = error.to_problem(locale=_locale(request))
    return {"notices": [Notice("error", str(problem["detail"]))], "error_slug": error.slug}, error.status


def _invalid(exc: ValidationError) -> InvalidInput:
    """Turn a schema error into a readable 422 (first problem only; no input echoed)."""
    errors = exc.errors()
    where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    message = errors[0]["msg"] if errors else ""
    return InvalidInput(
        f"填写内容有误：{where}" if where else "填写内容有误",
        detail_en=f"Invalid input: {where} — {message}".strip(" —"),
    )


def _text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        return default
    if len(value) > _MAX_FIELD:
        raise InvalidInput("输入内容过长", detail_en="An input is too long")
    return value.strip()


def _number(form: FormData, name: str, default: float | None = None) -> float | None:
    raw = _text(form, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # "nan", "inf" and "1e999" parse, but are no number a page can use
        raise InvalidInput(f"{name} 应为数字", detail_en=f"{name} must be a number")
    return value


async def _upload(form: FormData, name: str, limit: int) -> bytes:
    item = form.get(name)
    if not isinstance(item, UploadFile) or not item.filename:
        return b""
    data = await item.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(
            f"文件超过 {max(1, limit // (1024 * 1024))} MB 上限", detail_en=f"The file exceeds {limit} bytes"
        )
    return data


def _end_of_day(value: str) -> datetime | None:
    """Return the end of a `YYYY-MM-DD` day in China time, or None for an empty field."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", detail_en="Dates are written YYYY-MM-DD") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA)


def _event_label(request: Request, action: str) -> str:
    key = "contracts.event." + action.replace("contract.", "")
    t = _translator(request)
    return t(key) if has_key(key) else action


def _translator(request: Request) -> Callable[..., str]:
    from qianshu.web.i18n import translator

    return translator(_locale(request))


# --- my contracts ---------------------------------------------------------------------------


@router.get("/contracts", response_class=HTMLResponse)
def contracts_page(request: Request, user: PageUser, session: DbSession, box: str = "all", q: str = "") -> HTMLResponse:
    """List the contracts I sent or received, by box (waiting for me, for others, completed, closed)."""
    box = box if box in BOXES else "all"
    q = q.strip()[:100]
    bidxs = contracts_service.contact_indexes(session=session, user_id=user.user_id)
    rows = contracts_service.list_contracts(
        session=session, user_id=user.user_id, contact_bidxs=bidxs, box=box, query=q
    )
    owners = {c.id: contracts_service.is_sender(session=session, contract_id=c.id, user_id=user.user_id) for c in rows}
    context = {"contracts": rows, "box": box, "boxes": BOXES, "owned": owners, "q": q}
    return render(request, "contracts/list.html", context)


@router.get("/contracts/{contract_id}/open")
def open_received(contract_id: str, user: PageUser, session: DbSession) -> Response:
    """Go to my signing page of a contract sent to my phone or e-mail (or its detail if I sent it)."""
    if contracts_service.is_sender(session=session, contract_id=contract_id[:40], user_id=user.user_id):
        return _redirect(f"/contracts/{contract_id}")
    path = contracts_service.signing_path_for(session=session, contract_id=contract_id[:40], user_id=user.user_id)
    if path is None:
        from qianshu.contracts.errors import ContractNotFound

        raise ContractNotFound()
    return _redirect(path)


# --- new contract ---------------------------------------------------------------------------


def _signer_defaults(i: int) -> dict[str, str]:
    return {"order": "1", "x": str(60 + i * 120), "y": "90", "w": "110", "h": "60", "page": ""}


def _new_page(
    request: Request,
    session: Session,
    user: Principal,
    values: dict[str, Any] | None = None,
    error: QianshuError | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    values = values or {}
    templates = contracts_service.list_templates(session=session, viewer_id=user.user_id)
    chosen = None
    tpl_id = str(values.get("template_id") or request.query_params.get("template") or "")[:40]
    if tpl_id:
        chosen = next((tpl for tpl in templates if tpl.id == tpl_id), None)
    signers = values.get("signers") or [{"contact": "", **_signer_defaults(i)} for i in range(MAX_SIGNERS)]
    context = {
        "templates": templates,
        "chosen": chosen,
        "source": values.get("source") or ("template" if chosen else "upload"),
        "values": values,
        "signers": signers,
        "max_mb": request.app.state.runtime.settings.max_upload_bytes // (1024 * 1024),
        **extra,
    }
    return render(request, "contracts/new.html", context, status_code=status)


@router.get("/contracts/new", response_class=HTMLResponse)
def new_contract(request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show the new-contract form: a PDF or a template, signers in routing order, fields, deadline."""
    return _new_page(request, session, user)


def _placement_raw(form: FormData) -> str:
    """Return the drag-and-drop editor's JSON (contracts/placement.py), or "" when it was not used."""
    value = form.get("placement", "")
    return value if isinstance(value, str) else ""


def _recipients(
    form: FormData, pages: int, *, use_placement: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Return the API recipients from the signer rows and the CC lines, and the rows to show again.

    Fields come from the drag-and-drop editor when the form carries its `placement` input, else
    from each row's coordinate inputs (the form without JavaScript).
    """
    recipients: list[dict[str, Any]] = []
    shown: list[dict[str, str]] = []
    raw = _placement_raw(form) if use_placement else ""
    placed = parse_placement(raw, MAX_SIGNERS) if raw else None
    for i in range(MAX_SIGNERS):
        row = {k: _text(form, f"s{i}_{k}") for k in ("contact", "order", "page", "x", "y", "w", "h", "org", "seal")}
        row["date"] = "on" if _text(form, f"s{i}_date") else ""
        shown.append(row)
        if not row["contact"]:
            continue
        page = int(_number(form, f"s{i}_page", float(pages)) or pages) - 1
        x = _number(form, f"s{i}_x", 60.0) or 0.0
        y = _number(form, f"s{i}_y", 90.0) or 0.0
        w = _number(form, f"s{i}_w", _FIELD_W) or _FIELD_W
        h = _number(form, f"s{i}_h", _FIELD_H) or _FIELD_H
        is_org = bool(row["org"])
        fields: list[dict[str, Any]] = [
            {
                "kind": "seal" if is_org else "signature",
                "page": page,
                "x1": x,
                "y1": y,
                "x2": x + w,
                "y2": y + h,
            }
        ]
        if row["date"]:
            fields.append(
                {
                    "kind": "date",
                    "page": page,
                    "x1": x,
                    "y1": y - 24,
                    "x2": x + w,
                    "y2": y - 4,
                    "required": False,
                }
            )
        if placed is not None:
            fields = placed.pop(i, [])
        contact = row["contact"]
        recipients.append(
            {
                "kind": "org" if is_org else "person",
                "email" if "@" in contact else "phone": contact,
                "routing_order": int(_number(form, f"s{i}_order", 1.0) or 1),
                "org_id": row["org"] or None,
                "seal_id": row["seal"] or None,
                "fields": fields,
            }
        )
    if placed:
        n = min(placed) + 1
        raise FieldInvalid(
            f"签署方 {n} 未填写手机号或邮箱，却放置了签署区域",
            detail_en=f"Signer {n} has fields but no phone or e-mail",
        )
    for line in _text(form, "cc").splitlines():
        contact = line.strip()
        if contact:
            recipients.append({"role": "cc", "email" if "@" in contact else "phone": contact})
    return recipients, shown


@router.post("/contracts/new", response_model=None)
async def new_contract_submit(
    request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Create the document (upload or template) and the contract with its fields; send it or keep a draft."""
    runtime: Runtime = request.app.state.runtime
    values: dict[str, Any] = {}
    try:
        form = await request.form(max_files=2, max_fields=200)
        values = {k: _text(form, k) for k in ("title", "source", "template_id", "deadline", "cc", "action")}
        values["vars"] = {k[4:]: _text(form, k) for k in form if k.startswith("var_")}
        data = b""
        if values["source"] != "template":
            data = await _upload(form, "file", runtime.settings.max_upload_bytes)

        def act() -> Response:
            if values["source"] == "template":
                if not values["template_id"]:
                    raise TemplateInvalid("请选择合同模板", detail_en="Choose a template")
                fill = TemplateFill(title=values["title"] or None, values=values["vars"])
                doc = contracts_service.document_from_template(
                    session=session,
                    clock=clock,
                    owner_id=user.user_id,
                    template_id=values["template_id"],
                    data=fill,
                )
            else:
                if not data:
                    raise InvalidInput("请选择要上传的 PDF 文件", detail_en="Choose a PDF file to upload")
                doc = contracts_service.upload_document(
                    session=session,
                    clock=clock,
                    owner_id=user.user_id,
                    data=data,
                    title=values["title"] or None,
                )
            recipients, values["signers"] = _recipients(form, len(doc.pages))
            try:
                create = ContractCreate.model_validate(
                    {
                        "document_id": doc.id,
                        "title": values["title"] or None,
                        "deadline": _end_of_day(values["deadline"]),
                        "recipients": recipients,
                    }
                )
            except ValidationError as exc:
                if not recipients:
                    raise InvalidInput("请至少添加一位签署方", detail_en="Add at least one signer") from None
                raise _invalid(exc) from None
            contract = contracts_service.create_contract(
                session=session, clock=clock, owner_id=user.user_id, data=create, context=context
            )
            if values["action"] == "draft":
                return _redirect(f"/contracts/{contract.id}", "contracts_draft_saved")
            contracts_service.send_contract(
                session=session, clock=clock, owner_id=user.user_id, contract_id=contract.id, context=context
            )
            return _redirect(f"/contracts/{contract.id}", "contracts_sent")

        return await run_in_threadpool(act)
    except QianshuError as exc:
        if "signers" not in values:
            with contextlib.suppress(QianshuError, NameError):
                values["signers"] = _recipients(form, 1, use_placement=False)[1]
        with contextlib.suppress(NameError):
            values["placement"] = _placement_raw(form)
        return await run_in_threadpool(_new_page, request, session, user, values, exc)


# --- contract detail ------------------------------------------------------------------------


def _detail_page(
    request: Request, session: Session, user: Principal, contract_id: str, error: QianshuError | None = None
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    contract = contracts_service.get_contract_or_raise(session=session, contract_id=contract_id, owner_id=user.user_id)
    events = contracts_service.contract_events(session=session, contract_id=contract_id, owner_id=user.user_id)
    timeline = [{"label": _event_label(request, e.action), "at": e.created_at, "action": e.action} for e in events]
    fields_of = {r.id: [f for f in contract.fields if f.recipient_id == r.id] for r in contract.recipients}
    validation = contracts_service.validate_contract(session=session, contract_id=contract_id, owner_id=user.user_id)
    context = {"contract": contract, "timeline": timeline, "fields_of": fields_of, "validation": validation, **extra}
    context["reminders"] = contracts_service.reminders_of(
        session=session, owner_id=user.user_id, contract_id=contract_id
    )
    return render(request, "contracts/detail.html", context, status_code=status)


@router.get("/contracts/{contract_id}", response_class=HTMLResponse)
def contract_page(contract_id: str, request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show a contract I sent: status, recipients, audit timeline, downloads, revoke."""
    return _detail_page(request, session, user, contract_id[:40])


@router.post("/contracts/{contract_id}/send", response_model=None)
def send_submit(
    contract_id: str,
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> Response:
    """Send a draft to its signers."""
    try:
        contracts_service.send_contract(
            session=session, clock=clock, owner_id=user.user_id, contract_id=contract_id[:40], context=context
        )
    except QianshuError as exc:
        return _detail_page(request, session, user, contract_id[:40], exc)
    return _redirect(f"/contracts/{contract_id}", "contracts_sent")


@router.post("/contracts/{contract_id}/revoke", response_model=None)
async def revoke_submit(
    contract_id: str,
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> Response:
    """Revoke a contract before it completes, with a reason."""
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        try:
            reason = _text(form, "reason")
            if not reason or len(reason) > 500:
                raise InvalidInput(
                    "请填写撤回原因（不超过 500 字）", detail_en="Give a reason (at most 500 characters)"
                )
            contracts_service.revoke_contract(
                session=session,
                clock=clock,
                owner_id=user.user_id,
                contract_id=contract_id[:40],
                reason=reason,
                context=context,
            )
        except QianshuError as exc:
            return _detail_page(request, session, user, contract_id[:40], exc)
        return _redirect(f"/contracts/{contract_id}", "contracts_revoked")

    return await run_in_threadpool(act)


def _pdf(data: bytes, name: str, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}.pdf"', "Cache-Control": "no-store"}
    if inline:  # may be shown in a frame of our own signing page, nowhere else
        headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        headers["X-Frame-Options"] = "SAMEORIGIN"
    return Response(data, media_type="application/pdf", headers=headers)


@router.get("/contracts/{contract_id}/original.pdf")
def original_pdf(contract_id: str, user: PageUser, session: DbSession) -> Response:
    """Download the contract as uploaded or made from the template, before any signature."""
    data = contracts_service.original_pdf(session=session, contract_id=contract_id[:40], owner_id=user.user_id)
    return _pdf(data, f"{contract_id[:40]}-original")


@router.get("/contracts/{contract_id}/signed.pdf")
def signed_pdf(contract_id: str, user: PageUser, session: DbSession) -> Response:
    """Download the contract as it stands (the completed, signed PDF once everyone signed)."""
    data = contracts_service.contract_pdf(session=session, contract_id=contract_id[:40], owner_id=user.user_id)
    return _pdf(data, f"{contract_id[:40]}-signed")


# --- templates (A7: readable by anyone, verified or not) ------------------------------------


def _templates_page(
    request: Request,
    session: Session,
    user: Principal | None,
    values: dict[str, str] | None = None,
    error: QianshuError | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    rows = contracts_service.list_templates(session=session, viewer_id=user.user_id if user else None)
    context = {"templates": rows, "values": values or {}, "user": user, **extra}
    return render(request, "contracts/templates.html", context, status_code=status)


@router.get("/templates", response_class=HTMLResponse)
def templates_page(request: Request, user: OptionalUser, session: DbSession) -> HTMLResponse:
    """Browse contract templates and download them; no account or verification needed (A7)."""
    return _templates_page(request, session, user)


@router.post("/templates", response_model=None)
async def template_submit(request: Request, user: PageUser, session: DbSession, clock: ClockDep) -> Response:
    """Create a template; `{{name}}` marks a variable."""
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        values = {"title": "", "body": ""}
        try:
            values = {"title": _text(form, "title"), "body": str(form.get("body") or "")[:50_000]}
            data = TemplateCreate.model_validate(
                {**values, "is_public": bool(_text(form, "is_public")) and user.is_operator}
            )
            tpl = contracts_service.create_template(
                session=session, clock=clock, owner_id=user.user_id, data=data, is_operator=user.is_operator
            )
        except ValidationError as exc:
            return _templates_page(request, session, user, values, _invalid(exc))
        except QianshuError as exc:
            return _templates_page(request, session, user, values, exc)
        return _redirect(f"/templates/{tpl.id}", "contracts_template_created")

    return await run_in_threadpool(act)


@router.get("/templates/{template_id}", response_class=HTMLResponse)
def template_page(template_id: str, request: Request, user: OptionalUser, session: DbSession) -> HTMLResponse:
    """Read a template's text and variables; download it as a PDF (A7)."""
    viewer = user.user_id if user else None
    tpl = contracts_service.get_template_or_raise(session=session, template_id=template_id[:40], viewer_id=viewer)
    body = contracts_service.template_body(session=session, template_id=tpl.id, viewer_id=viewer)
    return render(request, "contracts/template.html", {"template": tpl, "body": body, "user": user})


@router.get("/templates/{template_id}/download")
def template_download(template_id: str, user: OptionalUser, session: DbSession) -> Response:
    """Download a template as a PDF with 【variable】 placeholders (A7)."""
    data = contracts_service.template_preview_pdf(
        session=session, template_id=template_id[:40], viewer_id=user.user_id if user else None
    )
    return _pdf(data, template_id[:40])


# --- the signer's page ----------------------------------------------------------------------


def _access(request: Request) -> str | None:
    value = request.cookies.get(ACCESS_COOKIE)
    return value if value and len(value) <= 100 else None


def _uid(user: Principal | None) -> str | None:
    return user.user_id if user is not None else None


def _sign_page(
    request: Request,
    session: Session,
    clock: ClockDep,
    user: Principal | None,
    token: str,
    *,
    error: QianshuError | None = None,
    sent_to: str | None = None,
    step: str | None = None,
    access: str | None = None,
    face_ticket: str | None = None,
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    view: SignerView
    view, intent_methods, has_signing_password = signers.sign_page_view(
        session=session, clock=clock, token=token, access=access or _access(request), user_id=_uid(user)
    )
    settings = request.app.state.runtime.settings
    link = f"{settings.public_base_url}/sign/{token}"
    context = {
        "view": view,
        "token": token,
        "qr": qr_data_url(link),
        "link": link,
        "sent_to": sent_to,
        "step": step or request.query_params.get("step", ""),
        "value_fields": [f for f in view.fields if f.kind not in SIGNATURE_KINDS],
        "is_org": view.recipient.kind == "org",
        "code_minutes": max(1, settings.otp_ttl_seconds // 60),
        "intent_methods": intent_methods,
        "intent_default": _intent_default(intent_methods, has_signing_password, step, face_ticket),
        "has_signing_password": has_signing_password,
        "face_ticket": face_ticket,
        **extra,
    }
    return render(request, "contracts/sign.html", context, status_code=status)


def _intent_default(methods: tuple[str, ...], has_password: bool, step: str | None, face_ticket: str | None) -> str:
    """The intent method the sign form starts with: the one the signer has just prepared, else the handiest."""
    if face_ticket and "face" in methods:
        return "face"
    if step == "intent" and "code" in methods:
        return "code"
    if has_password and "password" in methods:
        return "password"
    return methods[0]


@router.get("/sign/{token}", response_class=HTMLResponse)
def sign_page(token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep) -> HTMLResponse:
    """Show the signing link: prove control of the contact, read the document, sign or decline."""
    return _sign_page(request, session, clock, user, token[:120])


def _attempt(
    request: Request,
    session: Session,
    clock: ClockDep,
    user: Principal | None,
    token: str,
    action: Callable[[], Response],
) -> Response:
    try:
        return action()
    except ValidationError as exc:
        return _sign_page(request, session, clock, user, token, error=_invalid(exc))
    except QianshuError as exc:
        return _sign_page(request, session, clock, user, token, error=exc)


@router.post("/sign/{token}/access-code", response_model=None)
def access_code_submit(
    token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Send a one-time code to the recipient's phone or e-mail."""
    token = token[:120]

    def act() -> Response:
        sent_to = contracts_service.request_access_code(session=session, clock=clock, token=token, context=context)
        session.commit()
        return _sign_page(request, session, clock, user, token, sent_to=sent_to, step="access")

    return _attempt(request, session, clock, user, token, act)


@router.post("/sign/{token}/access", response_model=None)
async def access_submit(
    token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Check the code; remember the access in a cookie limited to this link."""
    token = token[:120]
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        access = contracts_service.grant_access(
            session=session, clock=clock, token=token, code=_text(form, "code")[:12], context=context
        )
        response = _redirect(f"/sign/{token}", "contracts_access_granted")
        response.set_cookie(
            ACCESS_COOKIE,
            access.access,
            max_age=int(ACCESS_TTL.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=bool(request.app.state.runtime.settings.cookie_secure),
            path=f"/sign/{token}",
        )
        return response

    return await run_in_threadpool(_attempt, request, session, clock, user, token, act)


@router.post("/sign/{token}/intent-code", response_model=None)
def intent_code_submit(
    token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Send the fresh code that confirms the intent to sign (签署意愿)."""
    token = token[:120]

    def act() -> Response:
        sent_to = contracts_service.request_intent_code(
            session=session,
            clock=clock,
            token=token,
            access=_access(request),
            user_id=_uid(user),
            context=context,
        )
        session.commit()
        return _sign_page(request, session, clock, user, token, sent_to=sent_to, step="intent")

    return _attempt(request, session, clock, user, token, act)


def _secret(form: FormData, name: str) -> str:
    value = form.get(name, "")  # a password: kept exactly as typed (no stripping)
    return value[:129] if isinstance(value, str) else ""


async def _sign_in(form: FormData, view_fields: list[str]) -> SignIn:
    appearance = _text(form, "appearance") or "text"
    raw = b""
    if appearance == "handwriting":
        raw = await _upload(form, "handwriting", _MAX_HANDWRITING)
    values = {}
    for fid in view_fields:
        value = _text(form, f"v_{fid}")
        if value:
            values[fid] = value
    method = _text(form, "intent_method") or "code"
    return SignIn.model_validate(
        {
            "intent_method": method,
            "code": _text(form, "face_ticket" if method == "face" else "code")[:12] or None,
            "password": _secret(form, "signing_password") or None,
            "appearance": appearance,
            "handwriting_png_b64": base64.b64encode(raw).decode("ascii") if raw else None,
            "values": values,
            "cross_page_seal": bool(_text(form, "cross_page_seal")),
        }
    )


@router.post("/sign/{token}/sign", response_model=None)
async def sign_submit(
    token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Fill the fields, choose the appearance and sign with the intent code."""
    token = token[:120]
    form = await request.form(max_files=2, max_fields=80)
    fields = [k[2:] for k in form if k.startswith("v_")]
    checkboxes = [k[3:] for k in form if k.startswith("cb_")]  # a checkbox field that exists on the form
    photo = b""
    try:
        data = await _sign_in(form, fields)
        if data.intent_method == "face" and not data.code:
            photo = await _upload(form, "face_photo", request.app.state.runtime.settings.identity_max_image_bytes)
            if not photo:
                raise InvalidInput(
                    "请拍摄本人正面照片以完成人脸核验", detail_en="Take a photo of your face for the check"
                )
    except (ValidationError, QianshuError) as exc:
        error = _invalid(exc) if isinstance(exc, ValidationError) else exc
        return await run_in_threadpool(_sign_page, request, session, clock, user, token, error=error)
    for fid in checkboxes:  # an unticked box sends nothing: say "false" so the check can tell
        data.values.setdefault(fid, "false")

    def act() -> Response:
        if photo:  # 人脸核验 first: its single-use ticket then confirms the intent like a code
            data.code = contracts_service.confirm_face(
                session=session,
                clock=clock,
                token=token,
                photo=photo,
                consent=bool(_text(form, "face_consent")),
                access=_access(request),
                user_id=_uid(user),
                context=context,
            )
            session.commit()
        try:
            return _signed(data)
        except QianshuError as exc:
            if not photo:  # no fresh ticket: a ticket sent back from the page may be the failure itself
                raise
            # The face check of this request passed: keep its fresh ticket, no second photo needed.
            session.rollback()
            return _sign_page(request, session, clock, user, token, error=exc, face_ticket=data.code)

    def _signed(data: SignIn) -> Response:
        contracts_service.sign(
            session=session,
            clock=clock,
            token=token,
            data=data,
            access=_access(request),
            user_id=_uid(user),
            context=context,
        )
        return _redirect(f"/sign/{token}", "contracts_signed")

    return await run_in_threadpool(_attempt, request, session, clock, user, token, act)


@router.post("/sign/{token}/decline", response_model=None)
async def decline_submit(
    token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Decline to sign, with a reason."""
    token = token[:120]
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        reason = _text(form, "reason")
        if not reason or len(reason) > 500:
            raise InvalidInput("请填写拒签原因（不超过 500 字）", detail_en="Give a reason (at most 500 characters)")
        contracts_service.decline(
            session=session,
            clock=clock,
            token=token,
            reason=reason,
            access=_access(request),
            user_id=_uid(user),
            context=context,
        )
        return _redirect(f"/sign/{token}", "contracts_declined")

    return await run_in_threadpool(_attempt, request, session, clock, user, token, act)


@router.get("/sign/{token}/document.pdf")
def sign_document(
    token: str,
    request: Request,
    user: OptionalUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
    inline: bool = False,
) -> Response:
    """Show or download the document as it stands (the signed PDF once completed)."""
    data = contracts_service.link_pdf(
        session=session,
        clock=clock,
        token=token[:120],
        access=_access(request),
        user_id=_uid(user),
        context=context,
        action="contract.document_viewed" if inline else "contract.downloaded",
    )
    return _pdf(data, "contract", inline=inline)


# --- reminders, hand-over, bulk send (contracts/reminders.py, handover.py, bulk.py) ------------


@router.post("/contracts/{contract_id}/remind", response_model=None)
async def remind_submit(
    contract_id: str, request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Remind the signers whose turn it is (or one of them) now."""
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        try:
            contracts_service.remind_now(
                session=session,
                clock=clock,
                owner_id=user.user_id,
                contract_id=contract_id[:40],
                recipient_id=_text(form, "recipient_id")[:32] or None,
                context=context,
            )
        except QianshuError as exc:
            return _detail_page(request, session, user, contract_id[:40], exc)
        return _redirect(f"/contracts/{contract_id[:40]}", "contracts_reminded")

    return await run_in_threadpool(act)


@router.post("/contracts/{contract_id}/reminders", response_model=None)
async def reminders_submit(
    contract_id: str, request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Set the contract's automatic reminders."""
    from qianshu.contracts.reminders import ReminderPolicyIn

    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        try:
            data = ReminderPolicyIn.model_validate(
                {
                    "every_days": int(_number(form, "every_days", 0.0) or 0),
                    "before_deadline_hours": int(_number(form, "before_deadline_hours", 0.0) or 0),
                }
            )
            contracts_service.set_reminder_policy(
                session=session,
                clock=clock,
                owner_id=user.user_id,
                contract_id=contract_id[:40],
                data=data,
                context=context,
            )
        except ValidationError as exc:
            return _detail_page(request, session, user, contract_id[:40], _invalid(exc))
        except QianshuError as exc:
            return _detail_page(request, session, user, contract_id[:40], exc)
        return _redirect(f"/contracts/{contract_id[:40]}", "contracts_reminders_saved")

    return await run_in_threadpool(act)


@router.post("/sign/{token}/handover", response_model=None)
async def handover_submit(
    token: str, request: Request, user: OptionalUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Hand an organisation's signing over to another authorised agent; this link stops working."""
    from qianshu.contracts.handover import HandoverIn

    token = token[:120]
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        contact = _text(form, "contact")
        data = HandoverIn(email=contact) if "@" in contact else HandoverIn(phone=contact or None)
        done = contracts_service.hand_over(
            session=session,
            clock=clock,
            token=token,
            data=data,
            access=_access(request),
            user_id=_uid(user),
            context=context,
        )
        response = render(request, "contracts/handover_done.html", {"done": done})
        response.delete_cookie(ACCESS_COOKIE, path=f"/sign/{token}")
        return response

    return await run_in_threadpool(_attempt, request, session, clock, user, token, act)


def _bulk_page(request: Request, session: Session, user: Principal, error: QianshuError | None = None) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    settings = request.app.state.runtime.settings
    context = {
        "templates": contracts_service.list_templates(session=session, viewer_id=user.user_id),
        "bulks": contracts_service.list_bulk_sends(session=session, owner_id=user.user_id),
        "chosen": request.query_params.get("template", "")[:40],
        "max_rows": settings.contract_bulk_max_rows,
        "max_kb": max(1, settings.contract_bulk_max_bytes // 1024),
        **extra,
    }
    return render(request, "contracts/bulk.html", context, status_code=status)


@router.get("/bulk-sends", response_class=HTMLResponse)
def bulk_page(request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show the bulk-send form (a template and a CSV of signers) and my bulk sends."""
    return _bulk_page(request, session, user)


@router.post("/bulk-sends", response_model=None)
async def bulk_submit(
    request: Request, user: PageUser, session: DbSession, clock: ClockDep, context: ContextDep
) -> Response:
    """Check the CSV and queue one contract per row; go to its progress page."""
    settings = request.app.state.runtime.settings
    try:
        form = await request.form(max_files=1, max_fields=10)
        data = await _upload(form, "file", settings.contract_bulk_max_bytes)
        template_id, days = _text(form, "template_id")[:40], _number(form, "deadline_days")
    except QianshuError as exc:
        return await run_in_threadpool(_bulk_page, request, session, user, exc)

    def act() -> Response:
        try:
            if not template_id:
                raise TemplateInvalid("请选择合同模板", detail_en="Choose a template")
            if not data:
                raise InvalidInput("请选择要上传的 CSV 文件", detail_en="Choose a CSV file to upload")
            bulk = contracts_service.create_bulk_send(
                session=session,
                clock=clock,
                owner_id=user.user_id,
                template_id=template_id,
                data=data,
                deadline_days=int(days) if days else None,
                context=context,
            )
        except QianshuError as exc:
            return _bulk_page(request, session, user, exc)
        return _redirect(f"/bulk-sends/{bulk.id}", "contracts_bulk_queued")

    return await run_in_threadpool(act)


@router.get("/bulk-sends/{bulk_id}", response_class=HTMLResponse)
def bulk_progress_page(bulk_id: str, request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """Show a bulk send's progress (refreshing itself until done), its contracts and its bad rows."""
    bulk = contracts_service.get_bulk_send_or_raise(session=session, owner_id=user.user_id, bulk_id=bulk_id[:40])
    percent = 100 if bulk.total == 0 else round(100 * bulk.done / bulk.total)
    return render(request, "contracts/bulk_progress.html", {"bulk": bulk, "percent": percent})


# --- seal-use approval (用印审批, contracts/approvals.py) -------------------------------------


def _approvals_page(
    request: Request, session: Session, user: Principal, error: QianshuError | None = None
) -> HTMLResponse:
    extra, status = _error_context(request, session, error)
    shown = request.query_params.get("status", "pending")
    shown = shown if shown in ("pending", "all") else "pending"
    rows = contracts_service.list_seal_approvals(
        session=session, user_id=user.user_id, status=None if shown == "all" else "pending"
    )
    context = {"approvals": rows, "shown": shown, "me": user.user_id, **extra}
    return render(request, "contracts/seal_approvals.html", context, status_code=status)


@router.get("/seal-approvals", response_class=HTMLResponse)
def seal_approvals_page(request: Request, user: PageUser, session: DbSession) -> HTMLResponse:
    """List the seal-use requests (用印审批) of the organisations where I decide on seal use."""
    return _approvals_page(request, session, user)


@router.post("/seal-approvals/{approval_id}/{decision}", response_model=None)
async def seal_approval_submit(
    approval_id: str,
    decision: str,
    request: Request,
    user: PageUser,
    session: DbSession,
    clock: ClockDep,
    context: ContextDep,
) -> Response:
    """Approve the use of a seal, or reject it with a reason."""
    form = await request.form(max_files=0, max_fields=10)

    def act() -> Response:
        try:
            if decision == "approve":
                contracts_service.approve_seal_use(
                    session=session, clock=clock, approval_id=approval_id[:40], user_id=user.user_id, context=context
                )
                return _redirect("/seal-approvals", "contracts_seal_approved")
            if decision != "reject":
                raise InvalidInput("未知的审批操作", detail_en="Unknown decision")
            reason = _text(form, "reason")
            if not reason or len(reason) > 500:
                raise InvalidInput(
                    "请填写驳回原因（不超过 500 字）", detail_en="Give a reason (at most 500 characters)"
                )
            contracts_service.reject_seal_use(
                session=session,
                clock=clock,
                approval_id=approval_id[:40],
                user_id=user.user_id,
                reason=reason,
                context=context,
            )
        except QianshuError as exc:
            return _approvals_page(request, session, user, exc)
        return _redirect("/seal-approvals", "contracts_seal_rejected")

    return await run_in_threadpool(act)


from qianshu.contracts.draft_pages import router as _draft_router  # noqa: E402  (the draft's field placement)
from qianshu.contracts.integrator_pages import router as _developers_router  # noqa: E402  (/orgs/{id}/developers)

router.include_router(_draft_router)
router.include_router(_developers_router)
