"""The whole platform served on a loopback socket, for checks by outside tools (pdfsig, openssl).

Outside validators fetch the CRLs and ask the OCSP responder named in our certificates, so the
platform must really listen; it runs on the real clock because those tools use the real date.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from qianshu import bootstrap
from qianshu.config import Settings
from qianshu.core.runtime import Runtime


@contextmanager
def serve_platform(settings: Settings, listen: socket.socket) -> Iterator[Runtime]:
    """Migrate and serve the app on `listen` in a thread; yield its runtime, then stop it."""
    import uvicorn

    from qianshu.app import create_app

    runtime = Runtime(settings)
    bootstrap.prepare(runtime)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, start_background=False), log_level="warning", access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listen]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # poll the server's own flag; startup takes a fraction of a second
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield runtime
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        runtime.close()
