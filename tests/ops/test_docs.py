"""docs/operations.md lists every setting."""

from __future__ import annotations

from pathlib import Path

from qianshu.config import Settings
from qianshu.ops.settings_doc import settings_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_operations_doc_lists_every_setting() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`QIANSHU_{name.upper()}`" not in text]
    assert missing == [], f"add to docs/operations.md (python -m qianshu.ops.settings_doc): {missing}"


def test_generated_table_covers_every_field() -> None:
    table = settings_table()
    assert table.count("\n| `QIANSHU_") == len(Settings.model_fields)
    assert "`(secret)`" in table  # secret defaults are never printed
