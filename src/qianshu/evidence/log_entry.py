"""Entries of the public transparency log: which documents it takes, and their canonical bytes.

An entry is a small JSON object with a `type` ("contract.completed", "preservation",
"evidence.report", "audit.anchor"), hashes, public ids and a `time`. It is public forever, so it may hold no
personal data: values are ASCII tokens, integers, booleans or null, and anything shaped like a
phone number, e-mail address or ID number is refused. The leaf data is the canonical JSON: keys
sorted, no whitespace, UTF-8 — for this value subset exactly the RFC 8785 (JCS) serialisation,
so any verifier can recompute a leaf hash from the document. Pure: no database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from qianshu.core.errors import InvalidInput

ENTRY_TYPES = frozenset({"contract.completed", "preservation", "evidence.report", "audit.anchor"})
MAX_ENTRY_BYTES = 16 * 1024
_MAX_DEPTH = 4
_MAX_ITEMS = 64
_MAX_STRING = 256
_MAX_SAFE_INT = 2**53 - 1  # RFC 8785 §3.2.2.3: integers beyond this are not portable JSON
_KEY_RE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_PERSONAL_RES = (  # values that look like personal data are refused: entries are public
    re.compile(r"[^@]+@[^@]+\.[^@]+"),  # e-mail address
    re.compile(r"\+?\d{11,19}"),  # phone, bank card
    re.compile(r"\d{17}[\dXx]"),  # resident ID number
)


class LogEntryInvalid(InvalidInput):
    """The entry is not a document the public log accepts."""

    slug = "invalid-log-entry"
    title = "日志条目无效"
    title_en = "Invalid log entry"


def canonical_entry(entry: Mapping[str, Any], *, now: datetime) -> bytes:
    """Validate an entry and return its canonical JSON (RFC 8785 for this value subset), UTF-8.

    `type` must be a known entry type; `time` (RFC 3339, UTC) defaults to `now`. Values are
    ASCII tokens (hashes, public ids, times), integers, booleans, null, and small lists or
    objects of them: no floats, no free text, nothing that looks like personal data.
    """
    if not isinstance(entry, Mapping):
        raise LogEntryInvalid("日志条目必须是 JSON 对象", detail_en="A log entry must be a JSON object")
    doc = dict(entry)
    if not isinstance(doc.get("type"), str) or doc["type"] not in ENTRY_TYPES:
        kinds = ", ".join(sorted(ENTRY_TYPES))
        raise LogEntryInvalid(f"条目类型必须是：{kinds}", detail_en=f"The entry type must be one of: {kinds}")
    if "time" not in doc:
        doc["time"] = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif not (isinstance(doc["time"], str) and _TIME_RE.fullmatch(doc["time"])):
        raise LogEntryInvalid(
            "time 必须是 UTC 的 RFC 3339 时间", detail_en="time must be an RFC 3339 UTC time"
        )
    _check_value(doc, depth=0, where="$")
    body = json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
    if len(body) > MAX_ENTRY_BYTES:
        raise LogEntryInvalid("日志条目过大", detail_en=f"A log entry is limited to {MAX_ENTRY_BYTES} bytes")
    return body


def _check_value(value: Any, *, depth: int, where: str) -> None:
    def bad(reason_zh: str, reason_en: str) -> LogEntryInvalid:
        return LogEntryInvalid(f"{where}：{reason_zh}", detail_en=f"{where}: {reason_en}")

    if depth > _MAX_DEPTH:
        raise bad("嵌套过深", "nested too deeply")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise bad("整数超出范围", "integer out of range")
        return
    if isinstance(value, str):
        if not (value.isascii() and value.isprintable() and " " not in value and len(value) <= _MAX_STRING):
            raise bad(
                "只允许不含空格的 ASCII 值（哈希、编号、时间）", "only ASCII tokens (hashes, ids, times)"
            )
        if any(p.fullmatch(value) for p in _PERSONAL_RES):
            raise bad("疑似个人信息，公开日志不接受", "looks like personal data; the public log refuses it")
        return
    if isinstance(value, list):
        if len(value) > _MAX_ITEMS:
            raise bad("列表过长", "list too long")
        for i, item in enumerate(value):
            _check_value(item, depth=depth + 1, where=f"{where}[{i}]")
        return
    if isinstance(value, dict):
        if len(value) > _MAX_ITEMS:
            raise bad("字段过多", "too many fields")
        for key, item in value.items():
            if not (isinstance(key, str) and _KEY_RE.fullmatch(key)):
                raise bad("字段名无效", "invalid field name")
            _check_value(item, depth=depth + 1, where=f"{where}.{key}")
        return
    raise bad("不支持的值类型（不接受小数）", "unsupported value type (no floats)")
