"""Browser tests: the real app under uvicorn on loopback, driven by Debian's Chromium.

Each test gets a fresh data directory and SQLite database (the root `settings` fixture), a server
on a free 127.0.0.1 port whose in-process worker delivers jobs, and a new browser context; the
browser itself is launched once per test process. The PostgreSQL variant is skipped to keep CI
fast: the browser exercises pages, which run the same on both backends.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qianshu.config import Settings
from qianshu.core.runtime import Runtime

CHROMIUM = os.environ.get("QIANSHU_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
TIMEOUT_MS = 10_000


@pytest.fixture
def _listen_socket(db_backend: str) -> Iterator[socket.socket]:
    if db_backend == "postgres":
        pytest.skip("browser tests run on SQLite only")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture
def settings_overrides(_listen_socket: socket.socket) -> dict[str, Any]:
    port = _listen_socket.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    return {
        "public_base_url": base,
        "port": port,
        "worker_in_process": True,
        "sandbox": True,
        "sms_url": f"{base}/sandbox/sms",
    }


@dataclass
class LiveServer:
    """The running app: its base URL and the runtime it serves (real clock)."""

    url: str
    runtime: Runtime

    def __call__(self, path: str = "/") -> str:
        """Return the absolute URL of `path`."""
        return self.url + path

    def wake_worker(self) -> None:
        """Make the in-process job worker poll now instead of at its next tick."""
        from qianshu.jobs import worker

        worker.start_in_process(self.runtime).wake()


@pytest.fixture
def live_server(settings: Settings, _listen_socket: socket.socket) -> Iterator[LiveServer]:
    """Serve the app with uvicorn in a background thread until the test ends."""
    import uvicorn

    from qianshu import bootstrap
    from qianshu.app import create_app

    runtime = Runtime(settings)  # the real clock: the browser judges cookie expiry by real time
    bootstrap.prepare(runtime)
    app = create_app(runtime, start_background=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [_listen_socket]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # poll the server's own flag; startup takes a fraction of a second
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=settings.public_base_url, runtime=runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        runtime.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep browser tests together on one worker (see `chromium`)."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Launch Debian's Chromium once per test module.

    Playwright's sync API runs an asyncio loop on the calling thread while it is started; keeping it
    to the browser tests' own modules stops it from leaking into later tests that use asyncio.run().
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """Return `new_page(viewport=DESKTOP, locale="zh-CN")`: a page in a fresh browser context."""
    contexts: list[Any] = []

    def _make(viewport: dict[str, int] | None = None, locale: str = "zh-CN") -> Any:
        context = chromium.new_context(viewport=viewport or DESKTOP, locale=locale, base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _make
    for context in contexts:
        context.close()


@pytest.fixture
def desktop_page(new_page: Callable[..., Any]) -> Any:
    """A desktop-sized page (1280 px) on the live server."""
    return new_page()


@pytest.fixture
def phone_page(new_page: Callable[..., Any]) -> Any:
    """A phone-sized page (375 px) on the live server."""
    return new_page(PHONE)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
