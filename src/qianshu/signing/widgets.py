"""Extra widgets of a signature field, drawn in the signature's own incremental update.

A signature may show more than its one rectangle: the strips of a cross-page seal (骑缝章, see
`cross_page`) and the values the signer filled in (text, dates, checkboxes, see `field_values`).
Each is an extra widget annotation of the *same* signature field (ISO 32000-1 §12.7.3.1: a field
may have several widgets as its /Kids) with its own normal appearance (§12.5.5), added to its
page's /Annots in the same update as the signature. Page content is never touched, so the new
signature's byte range covers the widgets, and an earlier signature's modification analysis sees
only a new signature field with its widgets (form filling), which it permits.

Like the widget pyHanko puts in /Kids, these widgets carry no /Parent: poppler reads a kid with a
/Parent as a child *field* and would list each one as an unsigned signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.stamp import BaseStampStyle

from qianshu.signing.errors import PlacementInvalid
from qianshu.signing.inspection import deref, get

__all__ = ["ExtraWidget", "add_widgets", "page_box", "page_count"]

_PRINT = 4  # annotation flag Print (ISO 32000-1 §12.5.3, Table 165)


@dataclass(frozen=True)
class ExtraWidget:
    """One more widget of the signature field: a 0-based page, a box in points and its look."""

    page: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in PDF user space
    style: BaseStampStyle


def page_box(page: generic.PdfObject | None) -> tuple[float, float, float, float]:
    """Return a page's MediaBox (inherited if need be) as x1, y1, x2, y2 with x1 < x2, y1 < y2."""
    node = deref(page)
    for _ in range(32):  # MediaBox is inheritable (ISO 32000-1 §7.7.3.4)
        if not isinstance(node, generic.DictionaryObject):
            break
        box = get(node, "/MediaBox")
        if isinstance(box, generic.ArrayObject) and len(box) == 4:
            x1, y1, x2, y2 = (float(v) for v in box)
            return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
        node = get(node, "/Parent")
    raise PlacementInvalid("页面缺少有效的 MediaBox", detail_en="A page has no usable MediaBox")


def page_count(writer: IncrementalPdfFileWriter) -> int:
    """Return the document's page count from the page tree root."""
    pages = get(writer.root, "/Pages")
    count = get(pages, "/Count") if isinstance(pages, generic.DictionaryObject) else None
    if not isinstance(count, generic.NumberObject):
        raise PlacementInvalid("无法读取文档页数", detail_en="The page count cannot be read")
    return int(count)


def _page_ref(writer: IncrementalPdfFileWriter, page: int) -> generic.IndirectObject:
    try:
        ref, _resources = writer.find_page_for_modification(page)  # type: ignore[no-untyped-call]  # untyped
    except (PdfError, KeyError, AssertionError, IndexError) as exc:
        raise PlacementInvalid(f"页码 {page + 1} 超出文档范围", detail_en=f"Page {page + 1} does not exist") from exc
    assert isinstance(ref, generic.IndirectObject)
    return ref


def add_widgets(writer: IncrementalPdfFileWriter, *, field_name: str, widgets: Sequence[ExtraWidget]) -> int:
    """Add `widgets` to the signature field `field_name` (which has /Kids); return their number.

    Each widget must lie within its page's MediaBox.
    """
    if not widgets:
        return 0
    field_ref = next(
        (ref for name, _value, ref in enumerate_sig_fields(writer, filled_status=None) if name == field_name), None
    )
    if field_ref is None:
        raise PlacementInvalid("未找到签名域", detail_en=f"No signature field {field_name}")
    field = deref(field_ref)
    kids = get(field, "/Kids") if isinstance(field, generic.DictionaryObject) else None
    if not isinstance(kids, generic.ArrayObject):
        raise PlacementInvalid("签名域没有独立的控件", detail_en="The signature field has no separate widget")
    for widget in widgets:
        page_ref = _page_ref(writer, widget.page)
        x1, y1, x2, y2 = widget.box
        px1, py1, px2, py2 = page_box(page_ref)
        if x1 < px1 or y1 < py1 or x2 > px2 or y2 > py2 or x2 <= x1 or y2 <= y1:
            raise PlacementInvalid("填写项位置超出页面范围", detail_en="A widget rectangle lies outside its page")
        annot = generic.DictionaryObject(  # type: ignore[no-untyped-call]  # pyHanko leaves it untyped
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Widget"),
                pdf_name("/F"): generic.NumberObject(_PRINT),  # type: ignore[no-untyped-call]  # untyped
                pdf_name("/Rect"): generic.ArrayObject(
                    generic.FloatObject(v)  # type: ignore[no-untyped-call]  # untyped
                    for v in (x1, y1, x2, y2)
                ),
                pdf_name("/P"): page_ref,
            }
        )
        stamp = widget.style.create_stamp(writer, BoxConstraints(width=x2 - x1, height=y2 - y1), {})
        if stamp is None:
            raise PlacementInvalid("无法绘制控件外观", detail_en="The widget has no appearance")
        stamp.apply_appearance(annot)
        annot_ref = writer.add_object(annot)
        writer.register_annotation(page_ref, annot_ref)  # type: ignore[no-untyped-call]  # untyped
        kids.append(annot_ref)
    writer.update_container(kids)
    return len(widgets)
