"""Visible signature appearances as pyHanko stamp styles (ISO 32000-1 §12.7.4.5, §12.5.5).

The appearance is the signature widget's /AP stream; the page's own content is never touched, so
a later signature's diff analysis sees only a new signature field (form filling).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from PIL import Image
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import BaseStampStyle, StaticStampStyle, TextStampStyle

from qianshu.signing.fonts import CjkFont
from qianshu.signing.images import load_png_rgba
from qianshu.signing.schemas import Appearance, HandwritingAppearance, SealAppearance, TextAppearance

__all__ = ["stamp_style", "stamp_text"]

_BEIJING = timezone(timedelta(hours=8), "CST")
_INK = (0.08, 0.16, 0.45)
_MAX_IMAGE_SIDE = 360


def _margins(points: int) -> Margins:
    return Margins(left=points, right=points, top=points, bottom=points)


def stamp_text(*, signer_name: str, at: datetime, serial_hex: str) -> str:
    """Return the text-stamp lines: signer, Beijing time and the certificate serial in groups of four."""
    when = at.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S +08:00")
    serial = serial_hex.upper()
    groups = [serial[i : i + 4] for i in range(0, len(serial), 4)]
    rows = [" ".join(groups[i : i + 5]) for i in range(0, len(groups), 5)]
    return "\n".join([f"签署人：{signer_name}", f"签署时间：{when}", "证书序列号：", *rows])


def _image_style(png: bytes, *, opacity: float) -> StaticStampStyle:
    image = load_png_rgba(png)
    image.thumbnail((_MAX_IMAGE_SIDE, _MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)  # ~250 dpi at 100 pt
    return StaticStampStyle(
        background=PdfImage(image),
        background_opacity=opacity,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MID,
            margins=_margins(1),
            inner_content_scaling=InnerScaling.STRETCH_TO_FIT,
        ),
        border_width=0,
    )


def stamp_style(appearance: Appearance, *, text: str, cjk_font: CjkFont | None) -> BaseStampStyle:
    """Return the pyHanko stamp style drawing `appearance` (`text` is used by text stamps)."""
    if isinstance(appearance, SealAppearance):
        return _image_style(appearance.image_png, opacity=0.92)  # seal ink lets the text beneath show
    if isinstance(appearance, HandwritingAppearance):
        return _image_style(appearance.image_png, opacity=1.0)
    assert isinstance(appearance, TextAppearance)
    if cjk_font is None:
        raise ValueError("a text stamp needs the CJK font")
    return TextStampStyle(
        # pyHanko interpolates the template with %-formatting; the text is final, so escape it.
        stamp_text=text.replace("%", "%%"),
        text_box_style=TextBoxStyle(font=cjk_font.factory_for(text), font_size=10, leading=14, text_color=_INK),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=_margins(8),
            inner_content_scaling=InnerScaling.STRETCH_TO_FIT,
        ),
        border_width=1,
        border_color=_INK,
    )
