"""`qianshu audit verify` and `qianshu audit purge-network-logs` against a real data directory."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.evidence import service as evidence_service
from tests.evidence.conftest import Tamper

STREAM = "org:org_aaaaaaaaaaaaaaaaaaaa"


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner pointed at the test's database and data directory."""
    monkeypatch.setenv("QIANSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    return CliRunner()


def _events(session: Session, clock: FrozenClock, n: int) -> list[str]:
    ids = [
        evidence_service.record_event(
            session=session, clock=clock, stream=STREAM, actor="system", action="test.cli"
        )
        for _ in range(n)
    ]
    session.commit()
    return ids


def test_audit_verify_passes_on_intact_chains(
    cli: CliRunner, settings: Settings, session: Session, clock: FrozenClock
) -> None:
    _events(session, clock, 3)
    result = cli.invoke(app, ["audit", "verify", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "4 events" in result.output


def test_audit_verify_names_the_broken_link_and_fails(
    cli: CliRunner, settings: Settings, session: Session, clock: FrozenClock, tamper: Tamper
) -> None:
    ids = _events(session, clock, 3)
    tamper("UPDATE audit_event SET object_id = 'ctr_forgedforgedforgedfo' WHERE id = :id", id=ids[1])
    result = cli.invoke(app, ["audit", "verify", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1
    assert f"BROKEN stream={STREAM} seq=2 event={ids[1]}" in result.output
    assert "edited" in result.output


def test_audit_verify_reports_a_deleted_event(
    cli: CliRunner, settings: Settings, session: Session, clock: FrozenClock, tamper: Tamper
) -> None:
    ids = _events(session, clock, 3)
    tamper("DELETE FROM audit_event WHERE id = :id", id=ids[1])
    result = cli.invoke(app, ["audit", "verify", "--data-dir", str(settings.data_dir), "--stream", STREAM])
    assert result.exit_code == 1
    assert f"seq=3 event={ids[2]}" in result.output and "seq 2 missing" in result.output


def test_purge_network_logs_command(cli: CliRunner, settings: Settings) -> None:
    result = cli.invoke(app, ["audit", "purge-network-logs", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "purged 0 network logs" in result.output
