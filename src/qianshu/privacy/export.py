"""A copy of everything held about a person (P4, 个人信息保护法 第45条): JSON and a Chinese PDF.

Asking for a copy queues a job (its payload is only the export id). The job collects the privacy
centre's sections in clear, writes them as machine-readable JSON (UTF-8, sorted keys) and as a
readable PDF in Chinese (reportlab with WenQuanYi Zen Hei, whose TrueType outlines reportlab
embeds as a subset), and stores both through the blob store, encrypted under the person's own data
key. The download link carries a random token (only its SHA-256 is stored), works for the owner
only, and expires after `privacy_export_link_hours`; the sweep then deletes the files.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import RateLimited
from qianshu.core.ids import is_id, new_id, new_token
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.privacy import centre, notices
from qianshu.privacy.centre_models import DataExport
from qianshu.privacy.centre_schemas import ExportCreated, ExportRead, PrivacyCentre
from qianshu.privacy.errors import ExportNotReady

log = get_logger("qianshu.privacy")

BUILD_JOB = "privacy.build_export"
FORMAT_VERSION = "qianshu.personal-data.v1"
_FONT = "QianshuWQY"
_FONT_LOCK = threading.Lock()
_MAX_OPEN = 3  # copies being built or downloadable at once per person


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _read(row: DataExport) -> ExportRead:
    return ExportRead(
        id=row.id,
        status=row.status,
        created_at=row.created_at,
        ready_at=row.ready_at,
        expires_at=row.expires_at,
        json_sha256=row.json_sha256,
        pdf_sha256=row.pdf_sha256,
        downloads=row.downloads,
    )


def request_export(
    *, session: Session, clock: Clock, user_id: str, context: RequestContext | None = None
) -> ExportCreated:
    """Queue a copy of the person's data; return it with its download token (shown once)."""
    from qianshu.jobs import service as jobs_service

    now = clock.now()
    live = list(
        session.scalars(
            select(DataExport).where(
                DataExport.user_id == user_id,
                DataExport.status.in_(("queued", "ready")),
                DataExport.expires_at > now,
            )
        )
    )
    if len(live) >= _MAX_OPEN:
        raise RateLimited(
            "已有多份副本可下载，请先下载或等待其过期",
            detail_en="Several copies are already available; download them or wait until they expire",
            retry_after=3600,
        )
    token = new_token(32)
    hours = runtime_of(session).settings.privacy_export_link_hours
    row = DataExport(
        id=new_id("exp"),
        user_id=user_id,
        status="queued",
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        downloads=0,
    )
    session.add(row)
    session.flush()
    jobs_service.enqueue(session=session, clock=clock, kind=BUILD_JOB, payload={"export_id": row.id})
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=user_id,
        action="privacy.export_requested",
        object_id=row.id,
        context=context,
    )
    return ExportCreated(**_read(row).model_dump(), token=token)


def list_exports(*, session: Session, user_id: str) -> list[ExportRead]:
    """Return the person's data copies, newest first."""
    rows = session.scalars(
        select(DataExport).where(DataExport.user_id == user_id).order_by(DataExport.created_at.desc())
    )
    return [_read(r) for r in rows]


def export_document(*, session: Session, clock: Clock, user_id: str) -> dict[str, Any]:
    """Return the machine-readable copy: every section of the privacy centre, in clear."""
    return _document(centre.my_data(session=session, clock=clock, user_id=user_id))


def _document(data: PrivacyCentre) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "generated_at": data.generated_at.isoformat(),
        "user_id": data.user_id,
        "sections": {s.key: s.model_dump(mode="json") for s in data.sections},
    }


def build_export(*, session: Session, clock: Clock, export_id: str) -> bool:
    """Build the JSON and PDF of a queued copy and store them encrypted; return whether it did."""
    from qianshu.storage import service as storage_service

    row = session.get(DataExport, export_id)
    if row is None or row.status != "queued":
        return False
    settings = runtime_of(session).settings
    data = centre.my_data(session=session, clock=clock, user_id=row.user_id)
    json_bytes = json.dumps(_document(data), ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8")
    pdf_bytes = render_pdf(data, site_name=settings.site_name, font_path=str(settings.reportlab_cjk_font))
    limit = max(len(json_bytes), len(pdf_bytes)) + 1
    json_blob = storage_service.store_blob(
        session=session,
        clock=clock,
        owner_id=row.user_id,
        stream=json_bytes,
        media_type="application/json",
        max_bytes=limit,
    )
    pdf_blob = storage_service.store_blob(
        session=session,
        clock=clock,
        owner_id=row.user_id,
        stream=pdf_bytes,
        media_type="application/pdf",
        max_bytes=limit,
    )
    hours = runtime_of(session).settings.privacy_export_link_hours
    row.json_blob_id, row.json_sha256 = json_blob.id, json_blob.sha256
    row.pdf_blob_id, row.pdf_sha256 = pdf_blob.id, pdf_blob.sha256
    row.status, row.ready_at, row.expires_at = "ready", clock.now(), clock.now() + timedelta(hours=hours)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{row.user_id}",
        actor="system",
        action="privacy.export_ready",
        object_id=row.id,
        data={"json_sha256": row.json_sha256, "pdf_sha256": row.pdf_sha256},
    )
    notices.notify_user(
        session=session,
        clock=clock,
        user_id=row.user_id,
        template="privacy_export_ready",
        params={"hours": hours},
    )
    from qianshu.privacy import retention

    retention.ensure_sweep_scheduled(session=session, clock=clock)
    return True


def download(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    export_id: str,
    token: str,
    fmt: str,
    context: RequestContext | None = None,
) -> tuple[bytes, str, str]:
    """Return (content, media type, file name) of a ready copy for its owner holding the token."""
    from qianshu.storage import service as storage_service

    row = session.get(DataExport, export_id) if is_id(export_id, "exp") else None
    if (
        row is None
        or row.user_id != user_id
        or not hmac.compare_digest(row.token_hash, _hash(token or ""))
        or row.status != "ready"
        or row.expires_at <= clock.now()
        or fmt not in ("json", "pdf")
    ):
        raise ExportNotReady()
    blob_id = row.json_blob_id if fmt == "json" else row.pdf_blob_id
    assert blob_id is not None
    content = storage_service.read_blob_bytes(session=session, blob_id=blob_id)
    row.downloads += 1
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=user_id,
        action="privacy.export_downloaded",
        object_id=row.id,
        data={"format": fmt},
        context=context,
    )
    media = "application/json" if fmt == "json" else "application/pdf"
    return content, media, f"personal-data-{row.id}.{fmt}"


def expire_exports(*, session: Session, clock: Clock) -> int:
    """Delete the files of copies whose link expired; return how many."""
    from qianshu.storage import service as storage_service

    rows = list(
        session.scalars(
            select(DataExport).where(
                DataExport.status.in_(("ready", "queued", "failed")), DataExport.expires_at <= clock.now()
            )
        )
    )
    for row in rows:
        for blob_id in (row.json_blob_id, row.pdf_blob_id):
            if blob_id and storage_service.get_blob(session=session, blob_id=blob_id) is not None:
                storage_service.delete_blob(session=session, clock=clock, blob_id=blob_id)
        row.json_blob_id = row.pdf_blob_id = None
        row.status = "expired"
    session.flush()
    return len(rows)


# --- the readable PDF ------------------------------------------------------------------------


def _register_font(path: str) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _FONT_LOCK:
        if _FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(_FONT, path, subfontIndex=0))
    return _FONT


def _text(value: Any) -> str:
    from xml.sax.saxutils import escape

    if value is None:
        return "—"
    return escape(str(value))


def render_pdf(data: PrivacyCentre, *, site_name: str, font_path: str | None = None) -> bytes:
    """Render the privacy centre as a readable Chinese PDF (fonts embedded, ISO 32000-1 §9.9)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _register_font(font_path or "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.HexColor("#555555"))
    h1 = ParagraphStyle("h1", parent=body, fontSize=16, leading=22, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title="个人信息副本",
        author=site_name,
        subject=data.user_id,
    )
    width = A4[0] - 30 * mm
    story: list[Any] = [
        Paragraph(f"{_text(site_name)} · 个人信息副本", h1),
        Paragraph(
            f"用户编号：{_text(data.user_id)}　"
            f"生成时间（UTC）：{_text(data.generated_at.strftime('%Y-%m-%d %H:%M'))}",
            body,
        ),
        Paragraph("本文件列出平台持有的关于您的全部个人信息，机器可读版本见同时提供的 JSON 文件。", small),
    ]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
        ]
    )
    for section in data.sections:
        story.append(Paragraph(_text(section.title), h2))
        if section.note:
            story.append(Paragraph(_text(section.note), small))
        if section.fields:
            rows = [[Paragraph("项目", body), Paragraph("内容", body)]]
            rows += [
                [Paragraph(_text(f.label), body), Paragraph(_text(f.value), body)] for f in section.fields
            ]
            table = Table(rows, colWidths=[width * 0.3, width * 0.7], repeatRows=1)
            table.setStyle(grid)
            story.append(table)
        columns = list(dict.fromkeys(k for record in section.records for k in record))
        if columns and len(columns) <= 4:
            rows = [[Paragraph(_text(c), small) for c in columns]]
            rows += [[Paragraph(_text(r.get(c)), small) for c in columns] for r in section.records]
            table = Table(rows, colWidths=[width / len(columns)] * len(columns), repeatRows=1)
            table.setStyle(grid)
            story += [Spacer(1, 3 * mm), table]
        elif columns:  # wide records: one small key/value table each, so no column is dropped
            for number, record in enumerate(section.records, start=1):
                rows = [[Paragraph(f"#{number}", small), Paragraph("", small)]]
                rows += [[Paragraph(_text(k), small), Paragraph(_text(v), small)] for k, v in record.items()]
                table = Table(rows, colWidths=[width * 0.3, width * 0.7])
                table.setStyle(grid)
                story += [Spacer(1, 2 * mm), table]
        if not section.fields and not section.records:
            story.append(Paragraph("（无）", small))
    doc.build(story)
    return out.getvalue()
