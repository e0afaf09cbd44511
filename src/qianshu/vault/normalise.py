"""Canonical forms of values before they are blind-indexed, so equal inputs index equally."""

from __future__ import annotations

import re
import unicodedata

_PHONE_JUNK = re.compile(r"[\s\-().]")
_SPACES = re.compile(r"\s+")


def normalise_phone(value: str) -> str:
    """Return a mainland number as 11 digits: NFKC, no separators, no +86 / 0086 / 86 prefix."""
    digits = _PHONE_JUNK.sub("", unicodedata.normalize("NFKC", value))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def normalise_email(value: str) -> str:
    """Return an e-mail address NFKC-normalised, trimmed and lower-cased."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalise_id_number(value: str) -> str:
    """Return an ID number without spaces, with the check character `X` upper-cased."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", value)).upper()


def normalise_text(value: str) -> str:
    """Return free text NFKC-normalised, trimmed, with inner whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def normalise(kind: str, value: str) -> str:
    """Return `value` in the canonical form for its kind (phone, email, id_number, other text)."""
    if kind == "phone":
        return normalise_phone(value)
    if kind == "email":
        return normalise_email(value)
    if kind in ("id_number", "uscc", "bank_card"):
        return normalise_id_number(value)
    return normalise_text(value)
