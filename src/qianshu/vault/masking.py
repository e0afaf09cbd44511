"""Masked display forms of personal data (`138****5678`, `张*`, `z***@example.com`)."""

from __future__ import annotations


def mask_phone(value: str) -> str:
    """Show the first 3 and last 4 digits of a phone number: `138****5678`."""
    if len(value) >= 8:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if len(value) >= 3:
        return value[:1] + "*" * (len(value) - 2) + value[-1:]
    return "*" * len(value)


def mask_name(value: str) -> str:
    """Keep the first character of a name: `张*`, `欧**`; Latin names per word: `J*** S****`."""
    value = value.strip()
    if not value:
        return ""
    if " " in value:
        return " ".join(mask_name(part) for part in value.split())
    return value[0] + "*" * (len(value) - 1)


def mask_id_number(value: str) -> str:
    """Show the first 4 and last 4 characters of an ID number: `1101**********123X`."""
    if len(value) > 8:
        return value[:4] + "*" * (len(value) - 8) + value[-4:]
    return "*" * len(value)


def mask_email(value: str) -> str:
    """Keep the first character of the local part and the domain: `z***@example.com`."""
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return "***"
    return local[0] + "***@" + domain


def mask_bank_card(value: str) -> str:
    """Show the last 4 digits of a card number: `**** **** **** 1234`."""
    return "**** **** **** " + value[-4:] if len(value) > 4 else "*" * len(value)
