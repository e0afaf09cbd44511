"""Message catalogs: zh-CN (default) and en, one JSON file each in `web/i18n/`."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

_DIR = Path(__file__).parent / "i18n"
LOCALES = ("zh-CN", "en")


@cache
def _catalog(locale: str) -> dict[str, str]:
    path = _DIR / f"{locale}.json"
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def translate(locale: str, key: str, **params: Any) -> str:
    """Return the message `key` in `locale`, falling back to zh-CN, then the key itself."""
    text = _catalog(locale).get(key) or _catalog("zh-CN").get(key) or key
    return text.format(**params) if params else text


def translator(locale: str) -> Callable[..., str]:
    """Return `t(key, **params)` bound to `locale`."""

    def t(key: str, **params: Any) -> str:
        return translate(locale, key, **params)

    return t
