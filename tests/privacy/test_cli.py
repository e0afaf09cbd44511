"""`qianshu privacy publish` and `qianshu privacy list`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.config import Settings
from qianshu.privacy import service as privacy_service


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner pointed at the test's database and data directory."""
    monkeypatch.setenv("QIANSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    return CliRunner()


def test_publish_a_major_version_from_a_file(
    cli: CliRunner, settings: Settings, session: Session, tmp_path: Path
) -> None:
    source = tmp_path / "v2.md"
    source.write_text("# 隐私政策 2.0\n\n{{operator_name}} 新增了刷脸认证。\n", encoding="utf-8")
    data_dir = str(settings.data_dir)
    result = cli.invoke(
        app,
        [
            "privacy",
            "publish",
            str(source),
            "--version",
            "2.0",
            "--major",
            "--summary",
            "新增刷脸",
            "--data-dir",
            data_dir,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "published" in result.output and "sha256=" in result.output
    policy = privacy_service.current_policy(session=session)
    assert (policy.version, policy.major, policy.summary) == ("2.0", True, "新增刷脸")
    assert "签署平台运营方 新增了刷脸认证" in policy.text
    listed = cli.invoke(app, ["privacy", "list", "--data-dir", data_dir])
    assert listed.exit_code == 0
    assert [line.split("\t")[:2] for line in listed.output.splitlines()] == [
        ["2.0", "major"],
        ["1.0", "major"],
    ]


def test_publish_refuses_a_taken_version_and_bad_files(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    data_dir = str(settings.data_dir)
    source = tmp_path / "v.md"
    source.write_text("# 新文本\n", encoding="utf-8")
    taken = cli.invoke(
        app, ["privacy", "publish", str(source), "--version", "1.0", "--minor", "--data-dir", data_dir]
    )
    assert taken.exit_code != 0 and isinstance(taken.exception, privacy_service.PolicyVersionExists)
    binary = tmp_path / "v.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    bad = cli.invoke(
        app, ["privacy", "publish", str(binary), "--version", "3.0", "--minor", "--data-dir", data_dir]
    )
    assert bad.exit_code == 1 and "UTF-8" in bad.output
    missing = cli.invoke(
        app, ["privacy", "publish", str(tmp_path / "nope.md"), "--version", "3.0", "--minor"]
    )
    assert missing.exit_code == 2
    no_kind = cli.invoke(app, ["privacy", "publish", str(source), "--version", "3.0", "--data-dir", data_dir])
    assert no_kind.exit_code == 2
