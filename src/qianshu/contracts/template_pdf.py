"""Contract templates: `{{name}}` variables, and the PDF a filled template becomes.

Text is set with reportlab in WenQuanYi Zen Hei (`settings.reportlab_cjk_font`), whose TrueType
outlines are embedded as a subset (RECIPES.md), so Chinese renders the same in every reader. The
last page keeps a band free at the bottom for signature fields (`SIGN_BAND` points).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from qianshu.contracts.errors import TemplateInvalid

__all__ = ["SIGN_BAND", "VARIABLE_RE", "fill_template", "render_pdf", "variables_of"]

VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]{0,31})\s*\}\}")
SIGN_BAND = 200.0
_FONT = "QianshuContractWQY"
_MAX_VARIABLES = 100
_MAX_VALUE = 500
_MARGIN = 22 * mm


def variables_of(body: str) -> list[str]:
    """Return the template's variable names in order of first use."""
    names = list(dict.fromkeys(VARIABLE_RE.findall(body)))
    if len(names) > _MAX_VARIABLES:
        raise TemplateInvalid(f"模板变量不能超过 {_MAX_VARIABLES} 个", detail_en=f"At most {_MAX_VARIABLES} variables")
    return names


def fill_template(body: str, values: dict[str, str], *, placeholders: bool = False) -> str:
    """Return `body` with every variable replaced; missing or unknown values are refused.

    With `placeholders`, unset variables show as 【name】 (the preview anyone may download, A7).
    """
    names = variables_of(body)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise TemplateInvalid(
            "模板中没有这些变量：" + "、".join(unknown), detail_en="Unknown variables: " + ", ".join(unknown)
        )
    missing = [n for n in names if not (values.get(n) or "").strip()]
    if missing and not placeholders:
        raise TemplateInvalid(
            "请填写模板变量：" + "、".join(missing), detail_en="Values missing for: " + ", ".join(missing)
        )
    for name, value in values.items():
        if len(value) > _MAX_VALUE or any(ord(c) < 32 and c not in "\n\t" for c in value):
            raise TemplateInvalid(
                f"变量 {name} 的值过长或含有控制字符",
                detail_en=f"The value of {name} is too long or has control characters",
            )

    def replace(match: re.Match[str]) -> str:
        value = (values.get(match.group(1)) or "").strip()
        return value if value else f"【{match.group(1)}】"

    return VARIABLE_RE.sub(replace, body)


def render_pdf(*, title: str, text: str, font_path: Path) -> bytes:
    """Return an A4 PDF of `title` and the paragraphs of `text` (blank lines separate paragraphs)."""
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(font_path), subfontIndex=0))
    body = ParagraphStyle("body", fontName=_FONT, fontSize=10.5, leading=17, wordWrap="CJK")
    heading = ParagraphStyle("title", parent=body, fontSize=18, leading=26, alignment=1, spaceAfter=10)
    story: list[object] = [Paragraph(escape(title), heading), Spacer(1, 6)]
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [escape(line) for line in block.splitlines()]
        story.append(Paragraph("<br/>".join(lines), body))
        story.append(Spacer(1, 6))
    story.append(Spacer(1, SIGN_BAND))  # room for the signature fields on the last page
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=title,
        creator="Qianshu",
    )
    doc.build(story)
    return out.getvalue()
