"""A misconfigured dependency stops `qianshu serve` / `qianshu worker` with one line naming the setting.

Unreachable database, a bucket the object store does not have, a broker that is down: each is found
by the start-up check before anything is migrated, printed as one error naming the QIANSHU_* setting
to fix, exit code 1, no stack trace. (The wrong HSM PIN: tests/scale/test_hsm_deployment.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.deploy import free_port, moto_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scale-faults")]


def _start(tmp_path: Path, command: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QIANSHU_DATA_DIR": str(tmp_path / "data"),
        "QIANSHU_DEMO": "false",
        **{f"QIANSHU_{k.upper()}": v for k, v in settings.items()},
    }
    args = ["serve", "--port", str(free_port())] if command == "serve" else ["worker"]
    return subprocess.run(
        [sys.executable, "-m", "qianshu.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _one_clear_error(done: subprocess.CompletedProcess[str], setting: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("错误 / error:")]
    assert len(errors) == 1 and setting in errors[0], done.stderr
    assert "listening on" not in done.stdout


def _closed_port() -> int:
    return free_port()  # nothing listens there: connections are refused


def test_unreachable_database_names_the_setting(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/qianshu"
    _one_clear_error(_start(tmp_path, "serve", database_url=url), "QIANSHU_DATABASE_URL")
    _one_clear_error(_start(tmp_path, "worker", database_url=url), "QIANSHU_DATABASE_URL")


def test_redis_down_names_the_setting(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    _one_clear_error(_start(tmp_path, "serve", redis_url=url), "QIANSHU_REDIS_URL")
    done = _start(tmp_path, "worker", jobs_backend="dramatiq", broker_url=url)
    _one_clear_error(done, "QIANSHU_BROKER_URL")
    assert not (tmp_path / "data" / "qianshu.db").exists()  # refused before migrating anything


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_missing_bucket_names_the_setting(tmp_path: Path, s3_endpoint: str) -> None:
    done = _start(
        tmp_path,
        "serve",
        blob_backend="s3",
        s3_bucket=f"qs-missing-{uuid.uuid4().hex[:8]}",  # never created
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",  # moto's placeholder credentials
    )
    _one_clear_error(done, "QIANSHU_S3_BUCKET")
    assert "NoSuchBucket" in done.stderr
