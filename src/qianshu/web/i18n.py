"""Message catalogs: zh-CN (default) and en, as JSON files in `web/i18n/`.

Each locale has a main catalog `<locale>.json` (the shell's and any domain's keys) and may have
domain fragments `<domain>.<locale>.json` (for example `accounts.zh-CN.json`), merged on load so
engineers can keep their keys in their own file. Keys are dotted and start with the domain
(`accounts.login_title`); a key defined twice is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

_DIR = Path(__file__).parent / "i18n"
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


def catalog_files(locale: str) -> list[Path]:
    """Return the main catalog of `locale` followed by its domain fragments, in name order."""
    main = _DIR / f"{locale}.json"
    fragments = sorted(p for p in _DIR.glob(f"*.{locale}.json") if p != main)
    return ([main] if main.exists() else []) + fragments


@cache
def _catalog(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in catalog_files(locale):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path.name}: a catalog must be a JSON object")
        for key, text in data.items():
            if key in merged:
                raise ValueError(f"{path.name}: key {key!r} is defined twice")
            merged[key] = str(text)
    return merged


def catalog(locale: str) -> dict[str, str]:
    """Return a copy of the merged catalog of `locale`."""
    return dict(_catalog(locale))


def has_key(key: str) -> bool:
    """Tell whether `key` exists in the default catalog."""
    return key in _catalog(DEFAULT_LOCALE)


def normalise_locale(value: str | None) -> str | None:
    """Return the supported locale named by `value` (zh-CN, zh, en, en-US…), or None."""
    if not value:
        return None
    low = value.strip().lower().replace("_", "-")
    if low in ("zh", "zh-cn", "zh-hans", "zh-hans-cn"):
        return "zh-CN"
    if low == "en" or low.startswith("en-"):
        return "en"
    return None


def translate(locale: str, key: str, **params: Any) -> str:
    """Return the message `key` in `locale`, falling back to zh-CN, then the key itself."""
    text = _catalog(locale).get(key) or _catalog(DEFAULT_LOCALE).get(key) or key
    return text.format(**params) if params else text


def translator(locale: str) -> Callable[..., str]:
    """Return `t(key, **params)` bound to `locale`."""

    def t(key: str, **params: Any) -> str:
        return translate(locale, key, **params)

    return t
