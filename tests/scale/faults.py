"""Fault injection for the deployment tests: a cuttable TCP proxy, a private database, lock probes.

`TcpProxy` forwards a loopback port to PostgreSQL or Redis. `cut()` drops every open connection and
closes each new one at once (what a client sees when the server goes away), `restore()` forwards
again; the shared servers themselves are never stopped (other tests use them in parallel).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tests.conftest import PG_URL


class TcpProxy:
    """Forward 127.0.0.1:<port> to `target` in daemon threads; cut and restore on demand."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                _drop(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _drop(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with self._lock:
                    self._open.discard(sock)
                _drop(sock)

    def cut(self) -> None:
        """Drop every forwarded connection and refuse service until `restore()`."""
        self._cut.set()
        with self._lock:
            socks, self._open = list(self._open), set()
        for sock in socks:
            _drop(sock)

    def restore(self) -> None:
        """Forward new connections again."""
        self._cut.clear()

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed.set()
        self.cut()
        _drop(self._listener)


def _drop(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


def _admin() -> Engine:
    assert PG_URL
    url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def private_database() -> Iterator[str]:
    """Create an empty PostgreSQL database on the test server; yield its URL; drop it afterwards."""
    admin = _admin()
    name = f"qs_fault_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        assert PG_URL
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def engine_for(url: str) -> Engine:
    """An engine on `url` for the test's own checks (autocommit: every query sees the newest state)."""
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


def row_lock_held(engine: Engine, table: str) -> bool:
    """Tell whether another session holds a `SELECT … FOR UPDATE` lock on `table` right now."""
    sql = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = :table AND l.mode = 'RowShareLock' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.pid <> pg_backend_pid()"
    )
    with engine.connect() as conn:
        return bool(conn.execute(sql, {"table": table}).scalar_one())


def wait_for(predicate: Callable[[], Any], what: str, *, timeout: float = 240, every: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` (a guard against hanging)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
