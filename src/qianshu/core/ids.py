"""Opaque, prefixed, unguessable public ids (`usr_…`, `ctr_…`)."""

from __future__ import annotations

import re
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_ID_RE = re.compile(r"^[a-z]{2,5}_[0-9a-hjkmnp-tv-z]{20}$")
_PREFIX_RE = re.compile(r"[a-z]{2,5}")


def new_id(prefix: str) -> str:
    """Return a new id: `prefix_` + 20 base32 characters (100 random bits)."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"bad id prefix: {prefix!r}")
    bits = int.from_bytes(secrets.token_bytes(13)) >> 4  # 100 bits, one OS call
    return prefix + "_" + "".join(_ALPHABET[(bits >> shift) & 31] for shift in range(95, -1, -5))


def is_id(value: str, prefix: str | None = None) -> bool:
    """Tell whether `value` looks like an id (with the given prefix)."""
    if not _ID_RE.fullmatch(value):
        return False
    return prefix is None or value.startswith(prefix + "_")


def new_token(nbytes: int = 32) -> str:
    """Return a URL-safe random token for links and sessions."""
    return secrets.token_urlsafe(nbytes)
