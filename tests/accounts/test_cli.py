"""CLI: `qianshu user create-admin`, `user unlock`, `keys rotate-kek`, `keys status`; the demo operator."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qianshu.accounts import service as accounts_service
from qianshu.accounts.errors import ContactTaken, WeakPassword
from qianshu.cli import app
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.logging import configure_logging
from qianshu.core.runtime import Runtime

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("QIANSHU_DATABASE_URL", "QIANSHU_DATA_DIR", "QIANSHU_SETTINGS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    monkeypatch.setenv("QIANSHU_PASSWORD_HASH_MEMORY_KIB", "1024")
    return tmp_path / "cli-data"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def _run(*args: str, **kw: Any) -> Any:
    return runner.invoke(app, list(args), **kw)


def test_create_admin_then_log_in(data_dir: Path) -> None:
    r = _run(
        "user",
        "create-admin",
        "--email",
        "ops@example.com",
        "--password",
        "Ops-pass-123",
        "--data-dir",
        str(data_dir),
    )
    assert r.exit_code == 0, r.output
    assert "operator created: usr_" in r.output
    rt = Runtime(Settings(data_dir=data_dir, password_hash_memory_kib=1024))
    try:
        with rt.transaction() as s:
            new = accounts_service.login_with_password(
                session=s, clock=rt.clock, login="ops@example.com", password="Ops-pass-123"
            )
            assert new.read.user.role == "operator"
    finally:
        rt.close()
    again = _run(
        "user",
        "create-admin",
        "--email",
        "OPS@example.com",
        "--password",
        "Ops-pass-123",
        "--data-dir",
        str(data_dir),
    )
    assert isinstance(again.exception, ContactTaken)


def test_create_admin_prompts_for_the_password_and_checks_it(data_dir: Path) -> None:
    r = _run(
        "user", "create-admin", "--phone", "13700000000", "--data-dir", str(data_dir), input="weak\nweak\n"
    )
    assert isinstance(r.exception, WeakPassword)
    r = _run(
        "user",
        "create-admin",
        "--phone",
        "13700000000",
        "--data-dir",
        str(data_dir),
        input="Ops-pass-123\nOps-pass-123\n",
    )
    assert r.exit_code == 0, r.output
    r = _run(
        "user",
        "create-admin",
        "--phone",
        "13700000001",
        "--email",
        "a@example.com",
        "--password",
        "x",
        "--data-dir",
        str(data_dir),
    )
    assert r.exit_code == 1


def test_unlock_lifts_a_lock(data_dir: Path) -> None:
    assert (
        _run(
            "user",
            "create-admin",
            "--phone",
            "13700000000",
            "--password",
            "Ops-pass-123",
            "--data-dir",
            str(data_dir),
        ).exit_code
        == 0
    )
    rt = Runtime(Settings(data_dir=data_dir, password_hash_memory_kib=1024))
    try:
        for _ in range(rt.settings.login_max_failures):
            with rt.transaction() as s, pytest.raises(Exception):  # noqa: B017  # 401 then 429
                accounts_service.login_with_password(
                    session=s, clock=rt.clock, login="13700000000", password="wrong-pass-1"
                )
        r = _run("user", "unlock", "13700000000", "--data-dir", str(data_dir))
        assert r.exit_code == 0, r.output
        with rt.transaction() as s:
            accounts_service.login_with_password(
                session=s, clock=rt.clock, login="13700000000", password="Ops-pass-123"
            )
    finally:
        rt.close()


def test_rotate_kek_and_status(data_dir: Path) -> None:
    r = _run("keys", "status", "--data-dir", str(data_dir))
    assert r.exit_code == 0 and r.output.count("* kek_") == 1
    _run(
        "user",
        "create-admin",
        "--phone",
        "13700000000",
        "--password",
        "Ops-pass-123",
        "--data-dir",
        str(data_dir),
    )
    r = _run("keys", "rotate-kek", "--retire", "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output
    assert "new KEK: kek_" in r.output and "retired kek_" in r.output
    r = _run("keys", "status", "--data-dir", str(data_dir))
    assert r.output.count("kek_") == 1 and "data keys" in r.output


def test_demo_operator_is_created_once_and_its_password_is_never_logged(
    settings: Settings, clock: FrozenClock
) -> None:
    from qianshu import bootstrap

    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    settings.demo = True
    rt = Runtime(settings, clock=clock)
    try:
        messages = bootstrap.prepare(rt)
        demo = [m for m in messages if accounts_service.DEMO_OPERATOR_EMAIL in m]
        assert len(demo) == 1
        password = demo[0].split("password: ")[1].split()[0]
        assert accounts_service.ensure_demo_operator(runtime=rt) is None
        with rt.transaction() as s:
            new = accounts_service.login_with_password(
                session=s, clock=clock, login=accounts_service.DEMO_OPERATOR_EMAIL, password=password
            )
        assert new.read.user.role == "operator"
        assert password not in stream.getvalue()
    finally:
        rt.close()
    settings.demo = False
    rt = Runtime(settings, clock=clock)
    try:
        assert accounts_service.ensure_demo_operator(runtime=rt) is None
    finally:
        rt.close()
