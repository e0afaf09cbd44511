"""CLI: `qianshu org check-uscc` and `qianshu org reviews`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qianshu.cli import app, main
from tests.orgs.conftest import licence_image

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def test_check_uscc_prints_the_parts() -> None:
    result = runner.invoke(app, ["org", "check-uscc", "91350100M000100Y43"])
    assert result.exit_code == 0, result.output
    assert "authority=9 (工商)" in result.output and "organisation_code=M000100Y4" in result.output


def test_check_uscc_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["qianshu", "org", "check-uscc", "91350100M000100Y44"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    assert "校验码错误" in capsys.readouterr().err


def test_reviews_lists_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qianshu import bootstrap
    from qianshu.config import Settings
    from qianshu.core.ids import new_id
    from qianshu.core.runtime import Runtime
    from qianshu.orgs import service as orgs_service
    from qianshu.orgs.schemas import OrgCreate

    for name in ("QIANSHU_DATABASE_URL", "QIANSHU_DATA_DIR", "QIANSHU_SETTINGS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    data_dir = tmp_path / "data"
    runtime = Runtime(Settings(data_dir=data_dir, demo=False))
    bootstrap.prepare(runtime)
    applicant = new_id("usr")
    with runtime.transaction() as s:
        org = orgs_service.create_org(
            session=s,
            clock=runtime.clock,
            actor_id=applicant,
            data=OrgCreate(name="龙岩命令行测试有限公司", uscc="91330100716105852F"),
        )
    with runtime.transaction() as s:
        doc = orgs_service.upload_licence(
            session=s, clock=runtime.clock, actor_id=applicant, org_id=org.id, data=licence_image()
        )
    runtime.close()
    result = runner.invoke(app, ["org", "reviews", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert doc.id in result.output and "91330100716105852F" in result.output and "licence" in result.output
