"""Fields placed by drag and drop in the browser (static/placement.js), read from the form.

The page's editor draws the document with pdf.js and converts each box to PDF points (origin at
the bottom-left of the page's user space, through the rendered page's own viewport, so scale,
MediaBox offset and /Rotate are taken into account). It submits them as one hidden JSON input:

    [{"signer": 0, "kind": "signature", "page": 0, "x1": 72, "y1": 90, "x2": 222, "y2": 150,
      "required": true}, ...]

`signer` is the 0-based row of the signer on the form. The numbers go through the same checks
as the API afterwards (`FieldIn` and the contract's page boxes in `flow.create_contract`); here
only the shape is checked, with messages a person can act on.
"""

from __future__ import annotations

import json
import math
from typing import Any

from qianshu.contracts.errors import FieldInvalid
from qianshu.contracts.schemas import SIGNATURE_KINDS

__all__ = ["MAX_PLACED", "parse_placement"]

MAX_PLACED = 200
_MAX_JSON = 64 * 1024
_KINDS = ("signature", "seal", "date", "text", "checkbox")
_COORDS = ("x1", "y1", "x2", "y2")
_MIN = 8


def _bad(zh: str, en: str) -> FieldInvalid:
    return FieldInvalid(zh, detail_en=en)


def _number(item: dict[str, Any], key: str, n: int) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"第 {n} 个签署区域的坐标无效", f"Field {n} has an invalid coordinate")
    return round(float(value), 2)


def parse_placement(raw: str, signers: int) -> dict[int, list[dict[str, Any]]]:
    """Return the placed fields per signer row (0-based) from the editor's JSON, as API field dicts.

    Raises `FieldInvalid` for malformed input: not a list, too many fields, an unknown kind, a
    signer row out of range, or a coordinate that is not a finite number.
    """
    if len(raw) > _MAX_JSON:
        raise _bad("签署区域过多", "Too many fields")
    try:
        items = json.loads(raw)
    except ValueError:
        raise _bad("签署区域数据无法读取，请重新放置", "The placed fields cannot be read; place them again") from None
    if not isinstance(items, list):
        raise _bad("签署区域数据无法读取，请重新放置", "The placed fields cannot be read; place them again")
    if len(items) > MAX_PLACED:
        raise _bad("签署区域过多", "Too many fields")
    placed: dict[int, list[dict[str, Any]]] = {}
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise _bad(f"第 {n} 个签署区域无法读取", f"Field {n} cannot be read")
        kind = item.get("kind")
        if kind not in _KINDS:
            raise _bad(f"第 {n} 个签署区域的类型无效", f"Field {n} has an unknown kind")
        signer, page = item.get("signer"), item.get("page")
        if isinstance(signer, bool) or not isinstance(signer, int) or not 0 <= signer < signers:
            raise _bad(f"第 {n} 个签署区域不属于任何签署方", f"Field {n} belongs to no signer")
        if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page <= 99_999:
            raise _bad(f"第 {n} 个签署区域的页码无效", f"Field {n} has an invalid page")
        x1, y1, x2, y2 = (_number(item, key, n) for key in _COORDS)
        if min(x1, y1) < 0:
            raise _bad(f"第 {n} 个签署区域超出第 {page + 1} 页的页面范围", f"Field {n} lies outside page {page + 1}")
        if x2 - x1 < _MIN or y2 - y1 < _MIN:
            raise _bad(f"第 {n} 个签署区域太小（至少 8 × 8 点）", f"Field {n} is smaller than 8 × 8 points")
        field: dict[str, Any] = {"kind": kind, "page": page, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
        field["required"] = True if kind in SIGNATURE_KINDS else bool(item.get("required", False))
        placed.setdefault(signer, []).append(field)
    return placed
