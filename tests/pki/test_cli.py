"""`qianshu ca …` against a real data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from tests.pki.conftest import MakePerson


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner pointed at the test's database and data directory."""
    monkeypatch.setenv("QIANSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    return CliRunner()


def test_ca_init_is_idempotent_and_export_writes_the_root(
    cli: CliRunner, settings: Settings, tmp_path: Path, session: object
) -> None:
    first = cli.invoke(app, ["ca", "init", "--data-dir", str(settings.data_dir)])
    assert first.exit_code == 0, first.output
    assert "root" in first.output and "sha256=" in first.output
    assert "CA created" not in first.output  # the runtime fixture created it already
    out = tmp_path / "root.crt"
    r = cli.invoke(
        app,
        [
            "ca",
            "export",
            str(out),
            "--which",
            "root",
            "--format",
            "der",
            "--data-dir",
            str(settings.data_dir),
        ],
    )
    assert r.exit_code == 0, r.output
    root = x509.load_der_x509_certificate(out.read_bytes())
    assert root.issuer == root.subject
    chain = tmp_path / "chain.pem"
    r = cli.invoke(
        app, ["ca", "export", str(chain), "--which", "chain", "--data-dir", str(settings.data_dir)]
    )
    assert len(x509.load_pem_x509_certificates(chain.read_bytes())) == 2
    bad = cli.invoke(
        app, ["ca", "export", str(chain), "--which", "nope", "--data-dir", str(settings.data_dir)]
    )
    assert bad.exit_code != 0


def test_ca_revoke(
    cli: CliRunner, settings: Settings, make_person: MakePerson, session: object, clock: FrozenClock
) -> None:
    cert = make_person()
    r = cli.invoke(
        app, ["ca", "revoke", cert.id, "--reason", "key_compromise", "--data-dir", str(settings.data_dir)]
    )
    assert r.exit_code == 0, r.output
    assert cert.serial in r.output
