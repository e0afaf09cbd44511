"""`qianshu identity status`: level and history by user id, without personal data."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.config import Settings
from tests.identity.conftest import NAME, make_id


def test_identity_status_prints_no_personal_data(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    make_user: Callable[..., str],
    client_as: Callable[..., TestClient],
) -> None:
    monkeypatch.setenv("QIANSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    user = make_user(["sensitive.id_number"])
    client = client_as(user)
    vid = client.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    client.post(f"/api/v1/identity/verifications/{vid}/elements", json={"name": NAME, "id_number": make_id()})
    result = CliRunner().invoke(app, ["identity", "status", user, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "two_elements" in result.output and vid in result.output and "verified" in result.output
    assert NAME not in result.output and make_id() not in result.output
    unknown = CliRunner().invoke(
        app, ["identity", "status", "usr_00000000000000000000", "--data-dir", str(settings.data_dir)]
    )
    assert "not verified" in unknown.output
