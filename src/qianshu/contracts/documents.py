"""Documents and templates: upload a PDF, make one from a template, browse and download (A7).

Uploads pass `signing_service.check_pdf_acceptable` (a sandboxed inspection refusing broken,
encrypted or active PDFs with a clear reason) before anything is stored, then go to the blob store
encrypted per file (E1). Public templates are readable by anyone, verified or not (promise A7).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from qianshu.contracts import pdf_pages, template_pdf
from qianshu.contracts.errors import ContractNotFound, TemplateNotFound
from qianshu.contracts.models import ContractDocument, ContractTemplate
from qianshu.contracts.schemas import DocumentRead, PageBox, TemplateCreate, TemplateFill, TemplateRead
from qianshu.core.clock import Clock
from qianshu.core.errors import Forbidden
from qianshu.core.ids import is_id, new_id
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.signing import service as signing_service
from qianshu.storage import service as storage_service
from qianshu.vault import service as vault_service

__all__ = [
    "create_template",
    "document_from_template",
    "document_pdf",
    "get_document_or_raise",
    "get_template_or_raise",
    "list_documents",
    "list_templates",
    "template_body",
    "template_preview_pdf",
    "upload_document",
]

_DOC_TABLE = "contracts_document"


def _title(session: Session, row: ContractDocument) -> str:
    return vault_service.decrypt_field(
        session=session,
        subject_id=row.owner_id,
        table=_DOC_TABLE,
        column="title",
        row_id=row.id,
        blob=row.title_enc,
    )


def _doc_read(session: Session, row: ContractDocument) -> DocumentRead:
    return DocumentRead(
        id=row.id,
        title=_title(session, row),
        sha256=row.sha256,
        size=row.size,
        pages=[PageBox(x1=b[0], y1=b[1], x2=b[2], y2=b[3]) for b in row.pages],
        source=row.source,
        template_id=row.template_id,
        created_at=row.created_at,
    )


def _store_document(
    session: Session,
    clock: Clock,
    *,
    owner_id: str,
    data: bytes,
    title: str,
    source: str,
    template_id: str | None,
) -> DocumentRead:
    settings = runtime_of(session).settings
    signing_service.check_pdf_acceptable(data, settings.max_upload_bytes)
    boxes = pdf_pages.page_boxes(data)
    blob = storage_service.store_blob(
        session=session, clock=clock, owner_id=owner_id, stream=data, media_type="application/pdf"
    )
    doc_id = new_id("doc")
    row = ContractDocument(
        id=doc_id,
        owner_id=owner_id,
        blob_id=blob.id,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        pages=boxes,
        source=source,
        template_id=template_id,
        title_enc=vault_service.encrypt_field(
            session=session, subject_id=owner_id, table=_DOC_TABLE, column="title", row_id=doc_id, value=title
        ),
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{owner_id}",
        actor=owner_id,
        action="contracts.document_created",
        object_id=doc_id,
        data={"sha256": row.sha256, "pages": len(boxes), "source": source},
    )
    return _doc_read(session, row)


def _clean_title(title: str | None, fallback: str) -> str:
    value = " ".join((title or "").split())[:120]
    return value or fallback


def upload_document(
    *, session: Session, clock: Clock, owner_id: str, data: bytes, title: str | None = None
) -> DocumentRead:
    """Accept a PDF (checked, then stored encrypted); raise a clear 4xx for anything we cannot sign."""
    return _store_document(
        session,
        clock,
        owner_id=owner_id,
        data=data,
        title=_clean_title(title, "未命名合同"),
        source="upload",
        template_id=None,
    )


def _doc_row(session: Session, doc_id: str, owner_id: str) -> ContractDocument:
    row = session.get(ContractDocument, doc_id) if is_id(doc_id, "doc") else None
    if row is None or row.owner_id != owner_id:
        raise ContractNotFound("未找到该文档", detail_en="No such document")
    return row


def get_document_or_raise(*, session: Session, document_id: str, owner_id: str) -> DocumentRead:
    """Return the owner's document or raise ContractNotFound."""
    return _doc_read(session, _doc_row(session, document_id, owner_id))


def list_documents(*, session: Session, owner_id: str, limit: int = 100) -> list[DocumentRead]:
    """Return the owner's documents, newest first."""
    rows = session.scalars(
        select(ContractDocument)
        .where(ContractDocument.owner_id == owner_id)
        .order_by(ContractDocument.created_at.desc())
        .limit(limit)
    )
    return [_doc_read(session, row) for row in rows]


def document_pdf(*, session: Session, document_id: str, owner_id: str) -> bytes:
    """Return the PDF of the owner's document."""
    row = _doc_row(session, document_id, owner_id)
    return storage_service.read_blob_bytes(session=session, blob_id=row.blob_id)


# --- templates ------------------------------------------------------------------------------


def _template_read(row: ContractTemplate) -> TemplateRead:
    return TemplateRead(
        id=row.id,
        title=row.title,
        variables=[str(v) for v in row.variables],
        is_public=row.is_public,
        created_at=row.created_at,
    )


def create_template(
    *, session: Session, clock: Clock, owner_id: str, data: TemplateCreate, is_operator: bool = False
) -> TemplateRead:
    """Store a template (body encrypted in the blob store); only operators publish public ones."""
    if data.is_public and not is_operator:
        raise Forbidden("仅平台运营人员可以发布公共模板", detail_en="Only operators publish public templates")
    variables = template_pdf.variables_of(data.body)
    blob = storage_service.store_blob(
        session=session,
        clock=clock,
        owner_id=owner_id,
        stream=data.body.encode("utf-8"),
        media_type="text/plain; charset=utf-8",
        max_bytes=200_000,
    )
    row = ContractTemplate(
        id=new_id("tpl"),
        owner_id=owner_id,
        title=" ".join(data.title.split()),
        variables=variables,
        body_blob_id=blob.id,
        is_public=data.is_public,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{owner_id}",
        actor=owner_id,
        action="contracts.template_created",
        object_id=row.id,
        data={"variables": len(variables), "public": data.is_public},
    )
    return _template_read(row)


def _template_row(session: Session, template_id: str, viewer_id: str | None) -> ContractTemplate:
    row = session.get(ContractTemplate, template_id) if is_id(template_id, "tpl") else None
    if row is None or not (row.is_public or (viewer_id is not None and row.owner_id == viewer_id)):
        raise TemplateNotFound()
    return row


def list_templates(*, session: Session, viewer_id: str | None, limit: int = 200) -> list[TemplateRead]:
    """Return the public templates and the viewer's own (no verification needed, A7)."""
    visible: ColumnElement[bool] = ContractTemplate.is_public.is_(True)
    if viewer_id is not None:
        visible = or_(visible, ContractTemplate.owner_id == viewer_id)
    rows = session.scalars(
        select(ContractTemplate).where(visible).order_by(ContractTemplate.created_at.desc()).limit(limit)
    )
    return [_template_read(row) for row in rows]


def get_template_or_raise(*, session: Session, template_id: str, viewer_id: str | None) -> TemplateRead:
    """Return a template the viewer may read, or raise TemplateNotFound."""
    return _template_read(_template_row(session, template_id, viewer_id))


def template_body(*, session: Session, template_id: str, viewer_id: str | None) -> str:
    """Return the template's text with its `{{variables}}`."""
    row = _template_row(session, template_id, viewer_id)
    return storage_service.read_blob_bytes(session=session, blob_id=row.body_blob_id).decode("utf-8")


def template_preview_pdf(*, session: Session, template_id: str, viewer_id: str | None) -> bytes:
    """Return the template as a PDF with 【variable】 placeholders (downloadable without verification, A7)."""
    row = _template_row(session, template_id, viewer_id)
    body = storage_service.read_blob_bytes(session=session, blob_id=row.body_blob_id).decode("utf-8")
    text = template_pdf.fill_template(body, {}, placeholders=True)
    font = runtime_of(session).settings.reportlab_cjk_font
    return template_pdf.render_pdf(title=row.title, text=text, font_path=font)


def document_from_template(
    *, session: Session, clock: Clock, owner_id: str, template_id: str, data: TemplateFill
) -> DocumentRead:
    """Fill a template with `data.values` and accept the PDF it makes as the owner's document."""
    row = _template_row(session, template_id, owner_id)
    body = storage_service.read_blob_bytes(session=session, blob_id=row.body_blob_id).decode("utf-8")
    text = template_pdf.fill_template(body, data.values)
    title = _clean_title(data.title, row.title)
    font = runtime_of(session).settings.reportlab_cjk_font
    pdf = template_pdf.render_pdf(title=title, text=text, font_path=font)
    return _store_document(
        session, clock, owner_id=owner_id, data=pdf, title=title, source="template", template_id=row.id
    )
