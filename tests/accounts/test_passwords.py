"""Password hashing: argon2id with the configured cost, upgraded on login when the cost rises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from qianshu.accounts.models import User
from qianshu.accounts.passwords import PasswordHashing
from qianshu.config import Settings
from qianshu.core.runtime import Runtime
from tests.accounts.conftest import PASSWORD, PHONE


def test_default_parameters_are_argon2id_rfc9106(tmp_path: Path) -> None:
    rt = Runtime(Settings(data_dir=tmp_path))
    try:
        hashing = PasswordHashing(rt)
        stored = hashing.hash("Correct-horse-42")
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert "Correct-horse-42" not in stored
        assert hashing.verify(stored, "Correct-horse-42")
        assert not hashing.verify(stored, "correct-horse-42")
        assert not hashing.verify(None, "anything")
        assert not hashing.verify("not-a-hash", "anything")
        assert hashing.hash("same") != hashing.hash("same")  # salted
    finally:
        rt.close()


def test_login_rehashes_with_stronger_parameters(
    client: Any, register: Callable[..., dict[str, Any]], runtime: Runtime
) -> None:
    register()
    with runtime.transaction() as s:
        before = s.scalar(select(User.password_hash))
    assert before is not None and "m=1024,t=1,p=1" in before
    runtime.settings.password_hash_memory_kib = 2048
    runtime.set_component("accounts.passwords", PasswordHashing(runtime))
    client.cookies.clear()
    assert client.post("/api/v1/sessions", json={"login": PHONE, "password": PASSWORD}).status_code == 201
    with runtime.transaction() as s:
        after = s.scalar(select(User.password_hash))
    assert after is not None and "m=2048,t=1,p=1" in after
