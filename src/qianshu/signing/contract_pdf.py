"""A two-page Chinese service contract (服务合同) for `qianshu demo`, drawn with reportlab.

Text uses WenQuanYi Zen Hei, whose TrueType outlines reportlab embeds as a subset (RECIPES.md),
so the contract looks the same in every reader. Page 2 keeps its lower part free for the two
signature areas; their rectangles are returned so the signers' appearances land inside them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

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
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

from qianshu.signing.schemas import Rect

__all__ = ["ContractParty", "SignatureArea", "demo_contract_pdf"]

_FONT = "QianshuWQY"
_PAGE_W, _PAGE_H = A4
_MARGIN = 22 * mm
_SIGN_BAND = 400  # points kept free at the bottom of page 2 for the signature areas


@dataclass(frozen=True)
class ContractParty:
    """One party as printed on the contract."""

    role: str  # 甲方 / 乙方
    title: str  # 委托方 / 服务方
    name: str
    id_line: str  # e.g. 统一社会信用代码 or 身份证件 (masked)
    address: str


@dataclass(frozen=True)
class SignatureArea:
    """Where a party signs: 0-based page index and rectangle in points."""

    page: int
    rect: Rect


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=_FONT, fontSize=10.5, leading=17, wordWrap="CJK", firstLineIndent=21)
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=20, leading=28, alignment=1, firstLineIndent=0, spaceAfter=6
        ),
        "meta": ParagraphStyle(
            "meta", parent=base, fontSize=9.5, alignment=2, firstLineIndent=0, textColor=HexColor("#555555")
        ),
        "party": ParagraphStyle("party", parent=base, firstLineIndent=0, leading=16),
        "heading": ParagraphStyle("heading", parent=base, fontSize=11.5, leading=20, firstLineIndent=0, spaceBefore=6),
        "body": base,
    }


_CLAUSES: list[tuple[str, list[str]]] = [
    (
        "第一条 服务内容",
        [
            "乙方为甲方提供企业信息系统的运维服务，包括服务器与网络设备的日常巡检、故障响应与处理、"
            "数据备份与恢复演练、安全补丁更新，以及每月一次的运行状况报告。",
            "服务的具体范围、响应时限与交付标准以本合同附件《服务级别约定》为准，附件与本合同具有同等效力。",
        ],
    ),
    (
        "第二条 服务期限",
        [
            "本合同服务期限为十二个月，自双方完成签署之日起算。期满前三十日内任何一方未书面提出异议的，"
            "本合同按原条件自动续期一年。",
        ],
    ),
    (
        "第三条 服务费用及支付方式",
        [
            "服务费用总额为人民币壹拾贰万元整（￥120,000.00），含增值税。甲方按季度支付，每季度首月十日前"
            "支付人民币叁万元整（￥30,000.00）。乙方应在收款前开具合法有效的增值税专用发票。",
        ],
    ),
    (
        "第四条 双方的权利和义务",
        [
            "甲方应及时提供服务所需的系统访问权限、资料与必要的工作条件，并指定专人负责联络。",
            "乙方应按约定的服务级别提供服务，遵守甲方的信息安全管理制度；未经甲方书面同意，不得将本合同项下"
            "的服务转包给第三方。",
        ],
    ),
    (
        "第五条 保密",
        [
            "任何一方对在履行本合同过程中知悉的对方商业秘密、技术信息和个人信息负有保密义务，未经对方书面同意"
            "不得向第三方披露。涉及个人信息的处理，双方应遵守《中华人民共和国个人信息保护法》的规定。"
            "本条义务在合同终止后三年内继续有效。",
        ],
    ),
    (
        "第六条 知识产权",
        [
            "乙方在提供服务过程中为甲方专门编写的脚本、文档及报告，其知识产权归甲方所有；乙方原有的工具与方法"
            "的知识产权仍归乙方所有。",
        ],
    ),
    (
        "第七条 违约责任",
        [
            "任何一方违反本合同约定的，应赔偿因此给对方造成的直接损失。乙方未达到约定服务级别的，按附件约定"
            "扣减当季度服务费用；甲方逾期付款的，每逾期一日按应付金额的万分之五支付违约金。",
        ],
    ),
    (
        "第八条 争议解决",
        [
            "因本合同引起的或与本合同有关的任何争议，双方应友好协商解决；协商不成的，任何一方均可向甲方住所地"
            "有管辖权的人民法院提起诉讼。",
        ],
    ),
    (
        "第九条 其他",
        [
            "本合同以电子形式订立。依据《中华人民共和国电子签名法》，双方同意使用可靠的电子签名签署本合同，"
            "该电子签名与手写签名或者盖章具有同等的法律效力。本合同经双方签署后生效，签署时间以可信时间戳为准。",
        ],
    ),
]


def _sign_page(parties: tuple[ContractParty, ContractParty]) -> tuple[list[SignatureArea], object]:
    """Return the signature areas and the page callback drawing their frames and labels."""
    width = (_PAGE_W - 2 * _MARGIN - 20) / 2
    areas = [
        SignatureArea(page=1, rect=Rect(x1=_MARGIN, y1=210, x2=_MARGIN + width, y2=340)),
        SignatureArea(page=1, rect=Rect(x1=_MARGIN + width + 20, y1=210, x2=_PAGE_W - _MARGIN, y2=340)),
    ]

    def draw(canvas: Canvas, _doc: object) -> None:
        _footer(canvas)
        canvas.setFont(_FONT, 11)
        canvas.drawString(_MARGIN, _SIGN_BAND - 10, "（以下为签署区，无正文）")
        for party, area in zip(parties, areas, strict=True):
            r = area.rect
            canvas.setFont(_FONT, 10.5)
            canvas.drawString(r.x1, r.y2 + 22, f"{party.role}（{party.title}）：{party.name}")
            label = "签字：" if party.role == "甲方" else "盖章："
            canvas.drawString(r.x1, r.y2 + 6, label)
            canvas.setStrokeColor(HexColor("#9aa5b1"))
            canvas.setDash(3, 3)
            canvas.rect(r.x1, r.y1, r.width, r.height)
            canvas.setDash()
            canvas.drawString(r.x1, r.y1 - 18, "日期：以电子签名时间戳为准")

    return areas, draw


def _footer(canvas: Canvas) -> None:
    canvas.setFont(_FONT, 8.5)
    canvas.setFillColor(HexColor("#777777"))
    canvas.drawCentredString(
        _PAGE_W / 2, 12 * mm, f"第 {canvas.getPageNumber()} 页 共 2 页　　合同编号：QS-DEMO-2026-0001"
    )
    canvas.setFillColor(HexColor("#000000"))


def demo_contract_pdf(
    *, font_path: Path, parties: tuple[ContractParty, ContractParty]
) -> tuple[bytes, list[SignatureArea]]:
    """Return the two-page contract PDF and the signature areas of (甲方, 乙方) on page 2."""
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(font_path), subfontIndex=0))
    styles = _styles()
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title="服务合同",
        author="签署 Qianshu 演示",
        subject="信息系统运维服务合同（演示）",
        creator="Qianshu demo",
    )
    areas, draw_sign_page = _sign_page(parties)
    body = Frame(_MARGIN, _MARGIN, _PAGE_W - 2 * _MARGIN, _PAGE_H - 2 * _MARGIN, id="body")
    upper = Frame(_MARGIN, _SIGN_BAND, _PAGE_W - 2 * _MARGIN, _PAGE_H - _MARGIN - _SIGN_BAND, id="upper")
    doc.addPageTemplates(
        [
            PageTemplate(id="text", frames=[body], onPage=lambda c, d: _footer(c)),
            PageTemplate(id="sign", frames=[upper], onPage=draw_sign_page),
        ]
    )
    story: list[object] = [
        Paragraph("信息系统运维服务合同", styles["title"]),
        Paragraph("合同编号：QS-DEMO-2026-0001", styles["meta"]),
        Spacer(1, 8),
    ]
    for party in parties:
        story.append(Paragraph(f"<b>{party.role}（{party.title}）：</b>{party.name}", styles["party"]))
        story.append(Paragraph(f"{party.id_line}　　住所：{party.address}", styles["party"]))
        story.append(Spacer(1, 4))
    story.append(
        Paragraph(
            "甲乙双方根据《中华人民共和国民法典》及相关法律法规，本着平等、自愿、公平、诚实信用的原则，"
            "就乙方向甲方提供信息系统运维服务事宜，经友好协商，订立本合同，以资共同遵守。",
            styles["body"],
        )
    )
    for index, (heading, paragraphs) in enumerate(_CLAUSES):
        if index == 6:
            story += [NextPageTemplate("sign"), PageBreak()]
        story.append(Paragraph(heading, styles["heading"]))
        story += [Paragraph(text, styles["body"]) for text in paragraphs]
    story.append(Spacer(1, 6))
    story.append(Paragraph("本合同一式两份电子文本，双方各执一份，具有同等法律效力。", styles["body"]))
    doc.build(story)
    return out.getvalue(), areas
