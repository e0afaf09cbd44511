"""Message catalogs: both languages hold the same keys, and templates only use existing keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qianshu.web import i18n

WEB = Path(__file__).resolve().parents[2] / "src" / "qianshu" / "web"
KEY_CALL = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.\-]+)["']\s*[,)]""")  # literal keys, not "a." ~ name
COMMENT = re.compile(r"{#.*?#}", re.S)


def test_every_key_exists_in_both_languages() -> None:
    zh = set(i18n.catalog("zh-CN"))
    en = set(i18n.catalog("en"))
    assert sorted(zh - en) == [], "keys missing in English"
    assert sorted(en - zh) == [], "keys missing in Chinese"


def test_no_empty_messages() -> None:
    for locale in i18n.LOCALES:
        empty = [k for k, v in i18n.catalog(locale).items() if not v.strip()]
        assert empty == [], locale


def test_templates_use_only_existing_keys() -> None:
    known = set(i18n.catalog("zh-CN"))
    missing = []
    for path in sorted((WEB / "templates").rglob("*.html")):
        source = COMMENT.sub("", path.read_text(encoding="utf-8"))
        for key in KEY_CALL.findall(source):
            if key not in known:
                missing.append(f"{path.relative_to(WEB)}: {key}")
    assert missing == []


def test_translate_falls_back_to_chinese_then_the_key() -> None:
    assert i18n.translate("en", "nav.home") == "Home"
    assert i18n.translate("zh-CN", "nav.home") == "首页"
    assert i18n.translate("fr", "nav.home") == "首页"
    assert i18n.translate("en", "no.such.key") == "no.such.key"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh_cn", "zh-CN"), ("en", "en"), ("en-US", "en"),
     ("fr", None), ("", None)],
)
def test_normalise_locale(raw: str, expected: str | None) -> None:
    assert i18n.normalise_locale(raw) == expected


def test_fragments_merge_and_duplicates_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zh-CN.json").write_text(json.dumps({"a.x": "甲"}), encoding="utf-8")
    (tmp_path / "demo.zh-CN.json").write_text(json.dumps({"demo.y": "乙"}), encoding="utf-8")
    monkeypatch.setattr(i18n, "_DIR", tmp_path)
    i18n._catalog.cache_clear()
    try:
        assert i18n.catalog("zh-CN") == {"a.x": "甲", "demo.y": "乙"}
        (tmp_path / "other.zh-CN.json").write_text(json.dumps({"a.x": "丙"}), encoding="utf-8")
        i18n._catalog.cache_clear()
        with pytest.raises(ValueError, match="defined twice"):
            i18n.catalog("zh-CN")
    finally:
        i18n._catalog.cache_clear()
        monkeypatch.undo()
        i18n._catalog.cache_clear()
