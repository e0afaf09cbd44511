"""Safe local redirect targets for `?next=` parameters."""

from __future__ import annotations

_MAX_LEN = 2000


def safe_next(value: str | None, default: str = "/") -> str:
    """Return `value` when it is a path on this site, else `default` (no open redirects)."""
    if not value or len(value) > _MAX_LEN:
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return default
    return value
