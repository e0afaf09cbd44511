"""Accounts' own secrets: the one-time-code pepper and the key that seals the flow cookie."""

from __future__ import annotations

import os
from pathlib import Path

from qianshu.core.runtime import Runtime, read_or_create_secret


def _secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        return read_or_create_secret(path, 32)
    except FileExistsError:  # created by another process between our read and our create
        return read_or_create_secret(path, 32)


def otp_pepper(runtime: Runtime) -> bytes:
    """Return the HMAC key one-time codes are hashed with (never stored in the database)."""
    return runtime.component(
        "accounts.otp_pepper", lambda rt: _secret(rt.settings.secrets_dir / "accounts" / "otp-pepper.key")
    )


def flow_key(runtime: Runtime) -> bytes:
    """Return the AES-256 key that seals the short-lived multi-step form cookie."""
    return runtime.component(
        "accounts.flow_key", lambda rt: _secret(rt.settings.secrets_dir / "accounts" / "flow-cookie.key")
    )
