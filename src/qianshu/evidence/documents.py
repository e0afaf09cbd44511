"""The Chinese PDFs the evidence service issues: the preservation certificate and the evidence report.

Drawn with reportlab in WenQuanYi Zen Hei, embedded as a subset (RECIPES.md), so they look the
same in every reader. Each leaves a marked area on its first page where the platform's seal
signature (PAdES) goes; its rectangle is returned with the PDF. Pure: no database.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from qianshu.signing.schemas import Rect

__all__ = [
    "CertificateContent",
    "LogProofRow",
    "ReportContent",
    "SealArea",
    "TokenRow",
    "beijing",
    "certificate_pdf",
    "report_pdf",
]

_FONT = "QianshuEvidenceWQY"
_PAGE_W, _PAGE_H = A4
_MARGIN = 20 * mm
_BEIJING = timezone(timedelta(hours=8), "CST")
_SEAL_W, _SEAL_H = 150.0, 150.0
_INK = HexColor("#1f2d3d")
_MUTED = HexColor("#5b6675")
_RULE = HexColor("#c7ced8")


@dataclass(frozen=True)
class SealArea:
    """Where the platform's seal signature goes: 0-based page and rectangle in points."""

    page: int
    rect: Rect


def beijing(value: datetime | None) -> str:
    """Return `value` as Beijing time with its offset, e.g. `2026-01-05 10:00:00（UTC+8）`."""
    if value is None:
        return "—"
    return value.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S（UTC+8）")


def _register_font(path: Path) -> None:
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(path), subfontIndex=0))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=_FONT, fontSize=9.5, leading=14, wordWrap="CJK", textColor=_INK)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=1, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, alignment=1, textColor=_MUTED),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4, keepWithNext=1),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=_MUTED),
        "mono": ParagraphStyle("mono", parent=base, fontSize=7.5, leading=10),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=12),
        "label": ParagraphStyle("label", parent=base, fontSize=8.5, leading=12, textColor=_MUTED),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _grid(rows: Sequence[tuple[str, str]], styles: dict[str, ParagraphStyle], label_width: float = 34 * mm) -> Table:
    width = _PAGE_W - 2 * _MARGIN
    data = [[_p(label, styles["label"]), _p(value, styles["cell"])] for label, value in rows]
    table = Table(data, colWidths=[label_width, width - label_width])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, _RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    styles: dict[str, ParagraphStyle],
    mono: Sequence[int] = (),
) -> Table:
    """A table with a header row repeated on each page; columns in `mono` (ids, hashes) set smaller."""
    data: list[list[Paragraph]] = [[_p(h, styles["label"]) for h in header]]
    data += [[_p(c, styles["mono" if i in mono else "cell"]) for i, c in enumerate(row)] for row in rows]
    table = Table(data, colWidths=list(widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, _INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, _RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _keep_headings(story: list[object], heading: ParagraphStyle) -> list[object]:
    """Keep each section heading on the page of what follows it (its first block, or first table rows)."""
    kept: list[object] = []
    pending: Paragraph | None = None
    for item in story:
        if isinstance(item, Paragraph) and item.style is heading:
            if pending is not None:
                kept.append(pending)
            pending = item
            continue
        if pending is not None:
            item, pending = KeepTogether([pending, item]), None
        kept.append(item)
    if pending is not None:
        kept.append(pending)
    return kept


def _seal_area() -> SealArea:
    x2 = _PAGE_W - _MARGIN
    return SealArea(page=0, rect=Rect(x1=x2 - _SEAL_W, y1=_MARGIN + 24, x2=x2, y2=_MARGIN + 24 + _SEAL_H))


def _draw_frame(canvas: Canvas, footer: str, area: SealArea | None, issuer: str, issued: str) -> None:
    canvas.saveState()
    canvas.setStrokeColor(_RULE)
    canvas.setLineWidth(0.6)
    canvas.rect(_MARGIN / 2, _MARGIN / 2, _PAGE_W - _MARGIN, _PAGE_H - _MARGIN)
    canvas.setFont(_FONT, 7.5)
    canvas.setFillColor(_MUTED)
    canvas.drawCentredString(_PAGE_W / 2, _MARGIN / 2 + 6, f"{footer}　第 {canvas.getPageNumber()} 页")
    if area is not None and canvas.getPageNumber() == area.page + 1:
        r = area.rect
        canvas.setFillColor(_INK)
        canvas.setFont(_FONT, 9.5)
        canvas.drawString(r.x1 - 200, r.y2 - 30, f"签发机构：{issuer}")
        canvas.drawString(r.x1 - 200, r.y2 - 48, f"签发时间：{issued}")
        canvas.setFont(_FONT, 8)
        canvas.setFillColor(_MUTED)
        canvas.drawString(r.x1 - 200, r.y2 - 66, "（电子签章见右，采用 PAdES 电子签名与可信时间戳）")
    canvas.restoreState()


# --- the preservation certificate ------------------------------------------------------------


@dataclass(frozen=True)
class CertificateContent:
    """What a preservation certificate states."""

    preservation_id: str
    owner: str  # masked name or the pseudonymous id
    label: str | None
    kind: str  # file | hash
    size: int | None
    sha256: str
    tst_time: datetime
    tst_serial: str
    tsa: str | None
    tst_sha256: str
    log_origin: str
    log_index: int
    tree_size: int
    root_hash: str
    leaf_hash: str
    issued_at: datetime
    operator_name: str
    verify_url: str


def certificate_pdf(content: CertificateContent, *, font_path: Path) -> tuple[bytes, SealArea]:
    """Return the one-page preservation certificate (电子数据存证证书) and its seal area."""
    _register_font(font_path)
    styles = _styles()
    area = _seal_area()
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"电子数据存证证书 {content.preservation_id}",
        author=content.operator_name,
        subject="电子数据存证证书",
        creator="Qianshu evidence service",
    )
    frame = Frame(_MARGIN, area.rect.y2 + 8, _PAGE_W - 2 * _MARGIN, _PAGE_H - _MARGIN - area.rect.y2 - 8)
    issued = beijing(content.issued_at)
    doc.addPageTemplates(
        [
            PageTemplate(
                id="certificate",
                frames=[frame],
                onPage=lambda c, _d: _draw_frame(
                    c, f"证书编号 {content.preservation_id}", area, content.operator_name, issued
                ),
            )
        ]
    )
    what = content.label or ("（未提供名称）" if content.kind == "file" else "（用户自行保管原件，仅提交摘要）")
    rows = [
        ("证书编号", content.preservation_id),
        ("存证人", content.owner),
        ("存证对象", what),
        (
            "存证方式",
            "上传文件（平台加密保存）" if content.kind == "file" else "仅提交 SHA-256 摘要（原件由用户保管）",
        ),
    ]
    if content.size is not None:
        rows.append(("文件大小", f"{content.size:,} 字节"))
    rows += [
        ("SHA-256 摘要", content.sha256),
        (
            "存证时间",
            f"{beijing(content.tst_time)}\n{content.tst_time.isoformat()}（协调世界时，以可信时间戳为准）",
        ),
        ("时间戳机构", content.tsa or "—"),
        ("时间戳序列号", content.tst_serial),
        ("时间戳令牌摘要", f"SHA-256 {content.tst_sha256}"),
        ("透明日志", content.log_origin),
        ("日志条目索引", str(content.log_index)),
        ("日志条目哈希", content.leaf_hash),
        ("检查点树大小", str(content.tree_size)),
        ("检查点根哈希", content.root_hash),
    ]
    story: list[object] = [
        _p("电子数据存证证书", styles["title"]),
        _p("Electronic Data Preservation Certificate", styles["subtitle"]),
        Spacer(1, 10),
        _p(
            "兹证明：下列电子数据的 SHA-256 摘要已于所载时间取得可信时间戳（RFC 3161），并已记入本平台"
            "公开、仅可追加的透明日志（RFC 6962）。任何人可凭原件重新计算摘要，并核对时间戳与日志证明。",
            styles["body"],
        ),
        Spacer(1, 8),
        _grid(rows, styles),
        Spacer(1, 8),
        _p(
            f"核验方式：访问 {content.verify_url} 上传证据包或本证书；或离线运行 "
            "qianshu verify 证据包.zip --root 根证书.pem --log-key 日志公钥。",
            styles["small"],
        ),
    ]
    doc.build(story)
    return out.getvalue(), area


# --- the evidence report --------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    """One time-stamp token as the report lists it."""

    label: str
    gen_time: datetime
    serial: str
    tsa: str | None
    policy: str
    imprint: str
    token_sha256: str
    token_b64: str


@dataclass(frozen=True)
class LogProofRow:
    """One log entry with its inclusion proof against the report's checkpoint."""

    label: str
    entry_id: str
    index: int
    leaf_hash: str
    entry_json: str
    path: list[str]


@dataclass(frozen=True)
class ReportContent:
    """What an evidence report (电子数据证据报告) lists."""

    report_id: str
    issued_at: datetime
    operator_name: str
    request_rows: list[tuple[str, str]]
    subject_rows: list[tuple[str, str]]
    parties: list[tuple[str, str, str, str]]  # (role, name, masked ID number, pseudonymous id)
    signatures: list[list[tuple[str, str]]]
    audit: list[tuple[str, str, str, str, str]]  # (seq, time, actor, action, event hash)
    audit_heads: list[tuple[str, str]]  # (stream, head hash)
    hashes: list[tuple[str, str]]
    tokens: list[TokenRow]
    log_proofs: list[LogProofRow]
    checkpoint_note: str
    tree_size: int
    root_hash: str
    verify_url: str
    notes: list[str] = field(default_factory=list)


def report_pdf(content: ReportContent, *, font_path: Path) -> tuple[bytes, SealArea]:
    """Return the evidence report (电子数据证据报告) and the seal area on its first page."""
    _register_font(font_path)
    styles = _styles()
    area = _seal_area()
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"电子数据证据报告 {content.report_id}",
        author=content.operator_name,
        subject="电子数据证据报告",
        creator="Qianshu evidence service",
    )
    width = _PAGE_W - 2 * _MARGIN
    issued = beijing(content.issued_at)
    footer = f"报告编号 {content.report_id}"
    cover = Frame(_MARGIN, area.rect.y2 + 8, width, _PAGE_H - _MARGIN - area.rect.y2 - 8, id="cover")
    body = Frame(_MARGIN, _MARGIN, width, _PAGE_H - 2 * _MARGIN, id="body")
    doc.addPageTemplates(
        [
            PageTemplate(
                id="cover",
                frames=[cover],
                onPage=lambda c, _d: _draw_frame(c, footer, area, content.operator_name, issued),
            ),
            PageTemplate(id="body", frames=[body], onPage=lambda c, _d: _draw_frame(c, footer, None, "", "")),
        ]
    )
    h2, cell = styles["h2"], styles["cell"]
    story: list[object] = [
        NextPageTemplate("body"),
        _p("电子数据证据报告", styles["title"]),
        _p("Electronic Evidence Report", styles["subtitle"]),
        Spacer(1, 8),
        _p(
            f"本报告由 {content.operator_name} 依申请出具，载明下列电子数据的存证对象、相关方、电子签名、"
            "可信时间戳、审计日志及其在公开透明日志中的包含证明。报告本身经平台电子签章（PAdES）并记入透明日志。",
            styles["body"],
        ),
        _p("一、申请信息", h2),
        _grid(content.request_rows, styles),
        _p("二、存证对象", h2),
        _grid(content.subject_rows, styles),
    ]
    story += [_p("三、相关方（身份证件号码已脱敏）", h2)]
    if content.parties:
        story.append(
            _table(
                ["身份", "名称", "证件号码", "平台标识"],
                [list(p) for p in content.parties],
                [22 * mm, 40 * mm, 48 * mm, width - 110 * mm],
                styles,
            )
        )
    else:
        story.append(_p("无", cell))
    story.append(_p("四、电子签名", h2))
    if content.signatures:
        for index, rows in enumerate(content.signatures, start=1):
            story.append(KeepTogether([_p(f"签名 {index}", styles["label"]), _grid(rows, styles)]))
            story.append(Spacer(1, 4))
    else:
        story.append(_p("该对象不含电子签名。", cell))
    story.append(_p("五、审计日志（哈希链）", h2))
    story.append(
        _table(
            ["序号", "时间", "操作者", "操作", "事件哈希"],
            [list(r) for r in content.audit],
            [11 * mm, 29 * mm, 39 * mm, 46 * mm, width - 125 * mm],
            styles,
            mono=(2, 3, 4),
        )
    )
    for stream, head in content.audit_heads:
        story.append(_p(f"审计流 {stream} 链头：{head}", styles["small"]))
    story.append(_p("六、哈希值", h2))
    story.append(_grid(content.hashes, styles, label_width=48 * mm))
    story.append(_p("七、可信时间戳（RFC 3161）", h2))
    for token in content.tokens:
        rows = [
            ("时间", f"{beijing(token.gen_time)}（{token.gen_time.isoformat()}）"),
            ("时间戳机构", token.tsa or "—"),
            ("序列号", token.serial),
            ("策略", token.policy),
            ("消息摘要（SHA-256）", token.imprint),
            ("令牌 SHA-256", token.token_sha256),
        ]
        story.append(KeepTogether([_p(token.label, styles["label"]), _grid(rows, styles)]))
        story.append(_p("令牌（DER，Base64）：", styles["small"]))
        story.append(_p(token.token_b64, styles["mono"]))
        story.append(Spacer(1, 6))
    story.append(_p("八、透明日志包含证明（RFC 6962 / RFC 9162）", h2))
    story.append(_grid([("检查点树大小", str(content.tree_size)), ("检查点根哈希", content.root_hash)], styles))
    for proof in content.log_proofs:
        rows = [
            ("日志条目", proof.entry_id),
            ("条目索引", str(proof.index)),
            ("叶哈希", proof.leaf_hash),
            ("条目内容", proof.entry_json),
            ("审计路径", "\n".join(proof.path) or "（树中仅此一条，路径为空）"),
        ]
        story.append(KeepTogether([_p(proof.label, styles["label"]), _grid(rows, styles)]))
        story.append(Spacer(1, 4))
    story.append(_p("检查点（C2SP signed-note，Ed25519 签名）：", styles["small"]))
    story.append(_p(content.checkpoint_note, styles["mono"]))
    story.append(_p("九、核验方法", h2))
    story.append(
        _p(
            f"可在 {content.verify_url} 上传本报告或证据包在线核验；或离线运行 qianshu verify 证据包.zip "
            "--root 根证书.pem --log-key 日志公钥，逐步核对清单哈希、时间戳、证书链、"
            "审计哈希链、日志包含证明、检查点签名与 PDF 电子签名。",
            cell,
        )
    )
    for note in content.notes:
        story.append(_p(note, styles["small"]))
    doc.build(_keep_headings(story, h2))
    return out.getvalue(), area
