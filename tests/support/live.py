"""The whole platform served on a loopback socket, for checks by outside tools (pdfsig, openssl).

Outside validators fetch the CRLs and ask the OCSP responder named in our certificates, so the
platform must really listen; it runs on the real clock because those tools use the real date.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def loopback_listener() -> Iterator[socket.socket]:
    """A listening TCP socket on a free loopback port, for `serve_platform`."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock
    finally:
        sock.close()


def base_url_of(listen: socket.socket) -> str:
    """The http:// base URL of a loopback listener."""
    return f"http://127.0.0.1:{listen.getsockname()[1]}"


def pdfsig_trusting(pdf: Path, root_pem: str, workdir: Path) -> str:
    """Run poppler's pdfsig on `pdf` with an NSS database that trusts only `root_pem`; return its report."""
    nss = workdir / "nss"
    if not nss.exists():
        nss.mkdir(parents=True)
        root = workdir / "nss-root.pem"
        root.write_text(root_pem)
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, timeout=30)
        add = ["certutil", "-A", "-d", f"sql:{nss}", "-n", "qianshu-root", "-t", "C,C,C", "-i", str(root)]
        subprocess.run(add, check=True, timeout=30)
    done = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, timeout=120)
    return done.stdout
