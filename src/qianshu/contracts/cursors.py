"""Opaque cursors for keyset pagination over (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql import ColumnElement

from qianshu.core.errors import InvalidInput
from qianshu.core.ids import is_id

MAX_LIMIT = 100


class CursorInvalid(InvalidInput):
    """The `cursor` parameter is not one this API handed out."""

    slug = "cursor-invalid"
    title = "分页游标无效"
    title_en = "Invalid cursor"


def encode(created_at: datetime, row_id: str) -> str:
    """Return the cursor that continues after the row (`created_at`, `row_id`)."""
    raw = json.dumps([created_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    """Return the position a cursor stands for; raise CursorInvalid for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value: Any = json.loads(raw)
        at, row_id = datetime.fromisoformat(value[0]), str(value[1])
    except (binascii.Error, ValueError, TypeError, IndexError, KeyError):
        raise CursorInvalid("分页游标无效", detail_en="The cursor is malformed") from None
    if at.tzinfo is None or not is_id(row_id):
        raise CursorInvalid("分页游标无效", detail_en="The cursor is malformed")
    return at, row_id


def after(created_col: Any, id_col: Any, cursor: str | None) -> ColumnElement[bool] | None:
    """Return the condition for rows after `cursor` in (created_at desc, id desc) order, or None."""
    if not cursor:
        return None
    at, row_id = decode(cursor)
    return or_(created_col < at, and_(created_col == at, id_col < row_id))
