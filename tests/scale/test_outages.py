"""PostgreSQL or Redis goes away under a running `qianshu serve`, then comes back.

The app reaches both through a TCP proxy in the test (the shared servers keep running for the other
tests). While a proxy is cut, requests that need that service get a clear 503 problem+json (no 500,
no stack trace) and the process stays up; once it is restored, the same process answers again
without a restart (the pool pings its connections before use). Skipped unless
QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, REDIS_URL
from tests.scale.deploy import Deployment, free_port
from tests.scale.faults import TcpProxy, private_database, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("scale-faults"),
    pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL"),
]

POLICY = "/api/v1/privacy/policies/current"  # reads the database
CODE = "/api/v1/accounts/register/start"  # counts the one-time code in Redis (rate limit) first


@dataclass
class Proxied:
    base: str
    pg: TcpProxy
    redis: TcpProxy
    dep: Deployment


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Proxied]:
    assert REDIS_URL
    redis_url = make_url(REDIS_URL.replace("redis://", "postgresql://", 1))  # only to parse host/port
    with private_database() as db_url:
        parsed = make_url(db_url)
        pg = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
        rd = TcpProxy((redis_url.host or "127.0.0.1", redis_url.port or 6379))
        port = free_port()
        env = {
            **os.environ,
            "QIANSHU_DATA_DIR": str(tmp_path / "data"),
            "QIANSHU_DATABASE_URL": parsed.set(host="127.0.0.1", port=pg.port).render_as_string(hide_password=False),
            "QIANSHU_REDIS_URL": f"redis://127.0.0.1:{rd.port}/{redis_url.database or 0}",
            "QIANSHU_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "QIANSHU_DEMO": "false",
            "QIANSHU_PASSWORD_HASH_MEMORY_KIB": "1024",
            "QIANSHU_PASSWORD_HASH_TIME_COST": "1",
            "QIANSHU_PASSWORD_HASH_PARALLELISM": "1",
        }
        dep = Deployment(env=env, workdir=tmp_path)
        try:
            base = dep.serve("app", port)
            yield Proxied(base, pg, rd, dep)
        finally:
            dep.stop()
            pg.close()
            rd.close()


def _is_clear_503(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 503 and body["type"].endswith("/service-unavailable"), body
    assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower() and "redis://" not in r.text


_attempts = iter(range(10_000))
ANSWERED = (202, 429)  # a code sent, or the rate limit that Redis counts: either way Redis answered


def _code(base: str) -> httpx.Response:
    phone = f"1380{next(_attempts):07d}"  # a new phone each time: its own rate-limit counter
    return httpx.post(f"{base}{CODE}", json={"phone": phone}, timeout=30)


def test_database_outage_is_503_then_recovers(proxied: Proxied) -> None:
    base, (proc,) = proxied.base, proxied.dep.procs
    assert httpx.get(f"{base}{POLICY}", timeout=30).status_code == 200
    proxied.pg.cut()
    for _ in range(3):
        _is_clear_503(httpx.get(f"{base}{POLICY}", timeout=60))
    assert httpx.get(f"{base}/readyz", timeout=60).status_code == 503
    assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200  # alive: no restart wanted
    proxied.pg.restore()
    wait_for(lambda: httpx.get(f"{base}{POLICY}", timeout=30).status_code == 200, "the database to be back")
    for _ in range(3):
        assert httpx.get(f"{base}{POLICY}", timeout=30).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=60).status_code == 200
    assert proc.poll() is None  # the same process, never restarted
    log = (proxied.dep.workdir / "app.log").read_text(errors="replace")
    assert "dependency_unavailable" in log


def test_redis_outage_is_503_then_recovers(proxied: Proxied) -> None:
    base, (proc,) = proxied.base, proxied.dep.procs
    assert _code(base).status_code in ANSWERED
    proxied.redis.cut()
    for _ in range(3):
        _is_clear_503(_code(base))
    assert httpx.get(f"{base}{POLICY}", timeout=30).status_code == 200  # the database still answers
    proxied.redis.restore()
    wait_for(lambda: _code(base).status_code in ANSWERED, "Redis to be back")
    assert _code(base).status_code in ANSWERED
    assert proc.poll() is None
