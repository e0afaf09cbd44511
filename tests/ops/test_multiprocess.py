"""Two `qianshu serve` processes and a Dramatiq worker on one PostgreSQL + Redis deployment.

A person asks for a registration code on app A, the SMS job runs on the worker (relay → Redis →
actor → sandbox SMS over HTTP), the code is used on app B, the password login happens on A and
the session works on B; a second code request on B is throttled by state A wrote. Skipped unless
QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, REDIS_URL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL"),
]
PHONE = "13912345678"
PASSWORD = "Multi-process-42!"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pg_database() -> Iterator[str]:
    assert PG_URL
    admin_url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"qs_mp_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240  # a guard against hanging (first start makes the CA), not a timing check
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def deployment(tmp_path: Path, pg_database: str) -> Iterator[dict[str, Any]]:
    port_a, port_b = _free_port(), _free_port()
    base_a = f"http://127.0.0.1:{port_a}"
    env = {
        **os.environ,
        "QIANSHU_DATA_DIR": str(tmp_path / "shared-data"),  # the shared volume (secrets, blobs)
        "QIANSHU_DATABASE_URL": pg_database,
        "QIANSHU_REDIS_URL": str(REDIS_URL),
        "QIANSHU_JOBS_BACKEND": "dramatiq",
        "QIANSHU_BROKER_URL": str(REDIS_URL),
        "QIANSHU_DRAMATIQ_QUEUE": f"qs_mp_{uuid.uuid4().hex[:8]}",
        "QIANSHU_RELAY_INTERVAL_SECONDS": "0.2",
        "QIANSHU_WORKER_IN_PROCESS": "false",
        "QIANSHU_PUBLIC_BASE_URL": base_a,
        "QIANSHU_SMS_URL": f"{base_a}/sandbox/sms",
        "QIANSHU_DEMO": "false",
        "QIANSHU_PASSWORD_HASH_MEMORY_KIB": "1024",
        "QIANSHU_PASSWORD_HASH_TIME_COST": "1",
        "QIANSHU_PASSWORD_HASH_PARALLELISM": "1",
    }
    procs: list[subprocess.Popen[bytes]] = []
    cli = [sys.executable, "-m", "qianshu.cli"]

    def start(name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        proc = subprocess.Popen([*cli, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc, log

    try:
        proc_a, log_a = start("app-a", ["serve", "--port", str(port_a)])
        _wait_ready(base_a, proc_a, log_a)  # first start creates keys and the CA; the others find them
        proc_b, log_b = start("app-b", ["serve", "--port", str(port_b)])
        start("worker", ["worker", "--threads", "2"])
        _wait_ready(f"http://127.0.0.1:{port_b}", proc_b, log_b)
        yield {"a": base_a, "b": f"http://127.0.0.1:{port_b}", "logs": tmp_path}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_code(base: str, phone: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = httpx.get(f"{base}/sandbox/sms/messages", params={"phone": phone}, timeout=5).json()["messages"]
        for message in messages:
            digits = "".join(ch if ch.isdigit() else " " for ch in message["text"]).split()
            codes = [d for d in digits if len(d) == 6]
            if codes:
                return codes[0]
        time.sleep(0.2)
    raise AssertionError("no SMS arrived: the worker did not run the notify job")


def test_requests_spread_over_two_app_processes(deployment: dict[str, Any]) -> None:
    import redis

    a, b = deployment["a"], deployment["b"]
    policy = httpx.get(f"{b}/api/v1/privacy/policies/current", timeout=10).json()["version"]
    r = httpx.post(f"{a}/api/v1/accounts/register/start", json={"phone": PHONE}, timeout=10)
    assert r.status_code == 202, r.text
    code = _wait_code(a, PHONE)  # sent by the Dramatiq worker process
    r = httpx.post(
        f"{b}/api/v1/accounts/register/complete",
        json={"phone": PHONE, "code": code, "password": PASSWORD, "accept_policy_version": policy},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    # The code was consumed through B: replaying it on A fails.
    replay = httpx.post(
        f"{a}/api/v1/accounts/register/complete",
        json={"phone": PHONE, "code": code, "password": PASSWORD, "accept_policy_version": policy},
        timeout=10,
    )
    assert replay.status_code >= 400
    login = httpx.post(f"{a}/api/v1/sessions", json={"login": PHONE, "password": PASSWORD}, timeout=10)
    assert login.status_code == 201, login.text
    token = login.json()["token"]
    me = httpx.get(f"{b}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
    # Throttling state written by A applies on B.
    first = httpx.post(f"{a}/api/v1/sessions/sms/start", json={"phone": PHONE}, timeout=10)
    assert first.status_code == 202, first.text
    second = httpx.post(f"{b}/api/v1/sessions/sms/start", json={"phone": PHONE}, timeout=10)
    assert second.status_code == 429, second.text
    client = redis.Redis.from_url(str(REDIS_URL))
    try:
        assert any(True for _ in client.scan_iter("qs:rl:*", count=1000))  # rate limits live in Redis
    finally:
        client.close()
    for base in (a, b):
        assert httpx.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"
