"""Filled-in values (text, dates, checkboxes) drawn as extra widgets of the signer's signature.

A signer's values become part of what that signer signs: each value is one more widget of the
signature field (see `widgets`), drawn in the same incremental update. Text and dates are set in
the embedded CJK font (a subset holding only the characters shown), wrapped to the box and made
smaller until they fit; a checkbox is a square with a vector check mark when ticked, an empty
square when not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils.layout import AxisAlignment, BoxConstraints, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStampStyle, TextStampStyle
from pyhanko.stamp.base import BaseStamp

from qianshu.signing.fonts import CjkFont
from qianshu.signing.schemas import FieldValue
from qianshu.signing.widgets import ExtraWidget

__all__ = ["CheckboxStyle", "value_widgets", "wrap_text"]

_INK = (0.05, 0.05, 0.12)
_PAD = 2  # points between the box edge and the text
_MAX_SIZE = 12
_MIN_SIZE = 5


def wrap_text(text: str, width: float, measure: Any) -> list[str]:
    """Break `text` into lines no wider than `width` (`measure(line)` gives a width).

    Lines break after a space when one is near, else between any two characters (as Chinese does).
    """
    lines: list[str] = []
    rest = text
    while rest:
        end = len(rest)
        while end > 1 and measure(rest[:end]) > width:
            end -= 1
        if end < len(rest):
            space = rest.rfind(" ", 0, end)
            if space > end // 2:
                end = space + 1
        lines.append(rest[:end].rstrip())
        rest = rest[end:].lstrip()
    return lines or [""]


def _layout(text: str, width: float, height: float, font: CjkFont) -> tuple[str, int]:
    """Return the wrapped text and the largest font size (5–12 pt) at which it fits the box."""
    usable_w, usable_h = max(1.0, width - 2 * _PAD), max(1.0, height - 2 * _PAD)
    size = max(_MIN_SIZE, min(_MAX_SIZE, int(usable_h / 1.2)))
    while True:
        lines = wrap_text(text, usable_w, lambda line, s=size: font.text_width(line, s))
        if len(lines) * size * 1.2 <= usable_h or size <= _MIN_SIZE:
            return "\n".join(lines), size
        size -= 1


def _text_style(text: str, width: float, height: float, font: CjkFont) -> TextStampStyle:
    wrapped, size = _layout(text, width, height, font)
    return TextStampStyle(
        stamp_text=wrapped.replace("%", "%%"),  # pyHanko %-formats the template; the text is final
        text_box_style=TextBoxStyle(
            font=font.factory_for(wrapped, size),
            font_size=size,
            leading=round(size * 1.2),
            text_color=_INK,
            box_layout_rule=SimpleBoxLayoutRule(  # no margin of its own: the stamp's margins apply
                x_align=AxisAlignment.ALIGN_MIN,
                y_align=AxisAlignment.ALIGN_MID,
                margins=Margins(left=0, right=0, top=0, bottom=0),
            ),
        ),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=_PAD, right=_PAD, top=_PAD, bottom=_PAD),
            inner_content_scaling=InnerScaling.SHRINK_TO_FIT,  # only when even 5 pt does not fit
        ),
        border_width=0,
    )


@dataclass(frozen=True)
class CheckboxStyle(BaseStampStyle):
    """A square checkbox, vertically centred at the left of the box, with a check mark if ticked."""

    ticked: bool = False
    ink: tuple[float, float, float] = _INK

    def create_stamp(self, writer: BasePdfFileWriter, box: BoxConstraints, text_params: dict[str, Any]) -> BaseStamp:
        """Return the stamp drawing this checkbox in `box`."""
        return _CheckboxStamp(writer, self, box)


class _CheckboxStamp(BaseStamp):
    style: CheckboxStyle

    def _render_inner_content(self) -> list[bytes]:
        width, height = float(self.box.width), float(self.box.height)
        side = max(4.0, min(width, height) - 2 * _PAD)
        x, y = min(_PAD, width - side), (height - side) / 2
        r, g, b = self.style.ink
        line = max(0.6, side / 14)
        commands = [b"q %g %g %g RG %g w 0 J 0 j" % (r, g, b, line), b"%g %g %g %g re S" % (x, y, side, side)]
        if self.style.ticked:
            points = [(0.2, 0.52), (0.42, 0.26), (0.82, 0.78)]  # a check mark in the unit square
            path = [b"%g %g" % (x + px * side, y + py * side) for px, py in points]
            commands.append(
                b"%g %g %g RG %g w 1 J 1 j %s m %s l %s l S" % (r, g, b, side / 8, path[0], path[1], path[2])
            )
        commands.append(b"Q")
        return commands


def value_widgets(values: Sequence[FieldValue], font: CjkFont | None) -> list[ExtraWidget]:
    """Return one extra widget per filled value (text and dates need `font`)."""
    widgets: list[ExtraWidget] = []
    for value in values:
        rect = value.rect
        style: BaseStampStyle
        if value.kind == "checkbox":
            style = CheckboxStyle(ticked=value.value == "true", border_width=0)
        else:
            if font is None:
                raise ValueError("text and date values need the CJK font")
            style = _text_style(value.value, rect.width, rect.height, font)
        widgets.append(ExtraWidget(page=value.page, box=(rect.x1, rect.y1, rect.x2, rect.y2), style=style))
    return widgets
