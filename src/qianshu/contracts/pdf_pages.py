"""Page boxes of an accepted PDF, read from its page tree (ISO 32000-1 §7.7.3, §14.11.2).

Runs only after `signing_service.check_pdf_acceptable` has passed, so the page tree is known to
be acyclic and its count right; the walk is still bounded and cycle-safe.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from qianshu.contracts.errors import FieldInvalid

__all__ = ["page_boxes"]

_MAX_DEPTH = 64


def _deref(obj: generic.PdfObject | None) -> generic.PdfObject | None:
    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj  # type: ignore[no-untyped-call]  # pyHanko leaves it untyped


def _box(node: generic.DictionaryObject, inherited: list[float] | None) -> list[float] | None:
    box = _deref(node.get("/MediaBox"))
    if isinstance(box, generic.ArrayObject) and len(box) == 4:
        x1, y1, x2, y2 = (float(_deref(v)) for v in box)  # type: ignore[arg-type]  # numbers in a MediaBox
        return [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
    return inherited


def page_boxes(data: bytes) -> list[list[float]]:
    """Return each page's MediaBox `[x1, y1, x2, y2]` in document order (MediaBox is inheritable)."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        root = _deref(reader.root.raw_get("/Pages"))
        boxes: list[list[float]] = []
        seen: set[int] = set()
        stack: list[tuple[generic.PdfObject | None, list[float] | None, int]] = [(root, None, 0)]
        while stack:
            node, inherited, depth = stack.pop()
            if not isinstance(node, generic.DictionaryObject) or id(node) in seen or depth > _MAX_DEPTH:
                continue
            seen.add(id(node))
            box = _box(node, inherited)
            kids = _deref(node.get("/Kids"))
            if isinstance(kids, generic.ArrayObject):
                stack.extend((_deref(kid), box, depth + 1) for kid in reversed(kids))
            elif box is not None:
                boxes.append(box)
    except (PdfError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise FieldInvalid("无法读取 PDF 的页面尺寸", detail_en="Cannot read the PDF's page sizes") from exc
    if not boxes:
        raise FieldInvalid("PDF 页面缺少有效的 MediaBox", detail_en="The PDF's pages have no usable MediaBox")
    return boxes
