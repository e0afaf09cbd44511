"""Overload: past `max_requests_in_flight` a process answers 503 server-busy at once, never queues forever.

bench/api_load.py showed the failure this prevents: offered more than it can do, the process kept
every request, latencies grew past the clients' time-outs and throughput collapsed. The limit is
tested on the real middleware around a small app whose requests wait until released; a pooled
connection that cannot be had in time is the same 503 (core/errors.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from qianshu.app import InFlightLimitMiddleware
from qianshu.core.errors import ServerBusy, dependency_unavailable


def _held_app() -> tuple[Any, asyncio.Event, list[str]]:
    release, started = asyncio.Event(), []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.append(scope["path"])
        if scope["path"] == "/slow":
            await release.wait()
        if scope["path"] == "/boom":
            raise RuntimeError("the route failed")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app, release, started


def test_requests_past_the_limit_are_refused_at_once_and_the_slots_come_back() -> None:
    async def scenario() -> None:
        inner, release, started = _held_app()
        guarded = InFlightLimitMiddleware(inner, limit=2)
        transport = httpx.ASGITransport(app=guarded, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
            while len(started) < 2:
                await asyncio.sleep(0.01)
            busy = await asyncio.wait_for(client.get("/api/v1/contracts"), timeout=5)
            assert busy.status_code == 503
            assert busy.headers["content-type"].startswith("application/problem+json")
            assert busy.headers["retry-after"] == "1"
            body = busy.json()
            assert body["type"].endswith("/server-busy") and body["status"] == 503
            assert body["instance"] == "/api/v1/contracts" and "繁忙" in body["detail"]
            assert "/api/v1/contracts" not in started  # refused before the app saw it
            assert (await client.get("/healthz")).status_code == 200  # health is never refused
            assert (await client.get("/static/app.css")).status_code == 200

            release.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
            assert guarded.in_flight == 0
            assert (await client.get("/boom")).status_code == 500  # a failing request frees its slot too
            assert guarded.in_flight == 0
            assert (await client.get("/api/v1/contracts")).status_code == 200

    asyncio.run(scenario())


def test_a_limit_of_zero_turns_the_guard_off() -> None:
    async def scenario() -> None:
        inner, release, started = _held_app()
        guarded = InFlightLimitMiddleware(inner, limit=0)
        transport = httpx.ASGITransport(app=guarded)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            held = [asyncio.create_task(client.get("/slow")) for _ in range(5)]
            while len(started) < 5:
                await asyncio.sleep(0.01)
            release.set()
            assert all(r.status_code == 200 for r in await asyncio.gather(*held))

    asyncio.run(scenario())


def test_a_pool_timeout_is_server_busy_not_a_500() -> None:
    busy = dependency_unavailable(PoolTimeout("QueuePool limit of size 16 overflow 16 reached"))
    assert isinstance(busy, ServerBusy) and busy.status == 503 and busy.retry_after == 1
    try:
        try:
            raise PoolTimeout("QueuePool limit reached")
        except PoolTimeout as exc:
            raise RuntimeError("while opening the session") from exc
    except RuntimeError as wrapped:
        assert isinstance(dependency_unavailable(wrapped), ServerBusy)
    assert dependency_unavailable(ValueError("not an overload")) is None


def test_the_app_installs_the_guard_with_the_setting_inside_the_security_headers(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qianshu.app import create_app
    from qianshu.core.security import SecurityMiddleware

    monkeypatch.setattr(runtime.settings, "max_requests_in_flight", 3)  # not the default: the setting is read
    app = create_app(runtime, start_background=False)
    names = [getattr(m.cls, "__name__", "") for m in app.user_middleware]  # outermost first
    found = [m for m in app.user_middleware if getattr(m.cls, "__name__", "") == InFlightLimitMiddleware.__name__]
    assert len(found) == 1 and found[0].kwargs["limit"] == 3
    assert names.index(SecurityMiddleware.__name__) < names.index(InFlightLimitMiddleware.__name__)
