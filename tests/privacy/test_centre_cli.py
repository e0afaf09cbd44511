"""`qianshu privacy calendar|staff|sweep|scan-deadlines` and `qianshu wind-down`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.config import Settings
from qianshu.core.runtime import Runtime
from qianshu.privacy import holidays
from tests.privacy.centre_support import CHEAP_HASHING, make_operator


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("QIANSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    return CliRunner()


def test_calendar_commands_load_a_new_year_and_refuse_bad_dates(
    cli: CliRunner, settings: Settings, runtime: Runtime
) -> None:
    data_dir = ["--data-dir", str(settings.data_dir)]
    r = cli.invoke(
        app,
        [
            "privacy",
            "calendar",
            "set",
            "2027-02-20",
            "--kind",
            "workday",
            "--name",
            "春节调休上班",
            *data_dir,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "2027-02-20\tworkday\tworking" in r.output
    r = cli.invoke(app, ["privacy", "calendar", "list", "--year", "2027", *data_dir])
    assert "bundled data provisional" in r.output and "2027-02-20\tworkday\toperator" in r.output
    with runtime.transaction() as s:
        assert holidays.load_calendar(session=s).is_working_day(date(2027, 2, 20))
    assert (
        cli.invoke(
            app, ["privacy", "calendar", "set", "2027-13-01", "--kind", "holiday", "--name", "x", *data_dir]
        ).exit_code
        == 1
    )
    r = cli.invoke(
        app, ["privacy", "calendar", "set", "2027-03-01", "--kind", "party", "--name", "x", *data_dir]
    )
    assert r.exit_code != 0
    assert cli.invoke(app, ["privacy", "calendar", "remove", "2027-02-20", *data_dir]).exit_code == 0


def test_staff_sweep_scan_and_wind_down_guard(
    cli: CliRunner, settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    data_dir = ["--data-dir", str(settings.data_dir)]
    operator = make_operator(runtime, "ops@example.com")
    r = cli.invoke(app, ["privacy", "staff", "grant", operator.user_id, "privacy_officer", *data_dir])
    assert r.exit_code == 0, r.output
    assert operator.user_id in cli.invoke(app, ["privacy", "staff", "list", *data_dir]).output
    assert cli.invoke(app, ["privacy", "sweep", *data_dir]).exit_code == 0
    assert "overdue 0" in cli.invoke(app, ["privacy", "scan-deadlines", *data_dir]).output
    r = cli.invoke(app, ["wind-down", "--end-date", "2026-06-30", "--purge", *data_dir])
    assert r.exit_code == 1 and "--yes" in r.output
    r = cli.invoke(app, ["wind-down", "--end-date", "2026-06-30", "--out", str(tmp_path / "ca"), *data_dir])
    assert r.exit_code == 0, r.output
    assert "collection stopped" in r.output and (tmp_path / "ca" / "ca-root.pem").exists()
