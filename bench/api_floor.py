"""What this machine gives the HTTP stack alone: the ceiling under `bench/api_load.py`'s figures.

    python bench/api_floor.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/api_floor.py --database-url … --workers 2 --seconds 20 --concurrency 16

Serves a minimal app on the same stack as `qianshu serve` (FastAPI on uvicorn with uvloop and
httptools, `--workers N` processes, sync routes run in the thread pool, a SQLAlchemy session per
request committed after the route, psycopg 3 to PostgreSQL) and drives it with the same closed
loop of clients as `api_load.py`'s saturation phase, on the same cores. Two routes:

- `POST /noop`: parses a small JSON body and answers it; no database;
- `POST /row`: the same, plus one ORM row inserted and committed (BEGIN, INSERT, COMMIT).

Qianshu's create + send is two requests that together run 27 SQL statements, seal nine values,
append two hash-chained audit events and queue an SMS that a third request delivers; half the
`/row` rate is what two requests of one statement each would allow, an upper bound no amount of
tuning inside the app reaches. Reports requests/s and CPU per request (app, database, load
generator) like `api_load.py`, and writes `bench/results/api_floor.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from api_load import CpuMeter, free_port, machine_facts, summary, wait_ready
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

RESULTS = Path(__file__).parent / "results"

APP = """
import os
import uuid
from collections.abc import Iterator

from fastapi import Depends, FastAPI
from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

engine = create_engine(os.environ["FLOOR_DATABASE_URL"], pool_size=20, max_overflow=20)
make_session = sessionmaker(engine)


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "floor_row"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


app = FastAPI()


def db() -> Iterator[Session]:
    with make_session() as session:
        yield session
        session.commit()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/noop")
def noop(body: dict[str, str]) -> dict[str, str]:
    return {"title": body.get("title", "")}


@app.post("/row")
def row(body: dict[str, str], session: Session = Depends(db)) -> dict[str, str]:
    item = Row(id=uuid.uuid4().hex, title=body.get("title", ""))
    session.add(item)
    session.flush()
    return {"id": item.id}
"""


async def _closed_loop(base: str, path: str, concurrency: int, seconds: float) -> dict[str, Any]:
    results: list[tuple[float, bool]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        for _ in range(50):  # warm-up: connections, pools
            await http.post(path, json={"title": "压测"})
        stop = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    ok = (await http.post(path, json={"title": "压测"})).status_code == 200
                except httpx.HTTPError:
                    ok = False
                results.append((time.perf_counter() - start, ok))

        start = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return summary(results, time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="PostgreSQL admin URL; a fresh database is made")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    name = f"qianshu_floor_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.database_url).set(database=name, drivername="postgresql+psycopg")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc: subprocess.Popen[bytes] | None = None
    routes: dict[str, Any] = {}
    try:
        bench_db = create_engine(url)
        with bench_db.begin() as c:
            c.execute(text("CREATE TABLE floor_row (id varchar(32) PRIMARY KEY, title varchar(200) NOT NULL)"))
        bench_db.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "floor_app.py").write_text(APP, encoding="utf-8")
            env = os.environ | {"FLOOR_DATABASE_URL": url.render_as_string(hide_password=False)}
            serve = [sys.executable, "-m", "uvicorn", "floor_app:app", "--host", "127.0.0.1", "--port", str(port)]
            serve += ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
            proc = subprocess.Popen(serve, cwd=tmp, env=env)
            wait_ready(base, proc)
            meter = CpuMeter(proc.pid, args.database_url, name)
            try:
                for path in ("/noop", "/row"):
                    before = meter.read()
                    result = asyncio.run(_closed_loop(base, path, args.concurrency, args.seconds))
                    done = result["requests"] - result["errors"]
                    per_pair = CpuMeter.per_pair(before, meter.read(), done)
                    routes[path] = result | {k.replace("_per_pair", "_per_request"): v for k, v in per_pair.items()}
            finally:
                meter.db.dispose()
                meter.bench_db.dispose()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    results = {"routes": routes, "workers": args.workers, "concurrency": args.concurrency} | machine_facts(args.seconds)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "api_floor.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for path, r in routes.items():
        print(
            f"{path}: {r['achieved_per_s']}/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  errors {r['errors']}"
            f"  CPU/request app {r.get('app_cpu_ms_per_request')} ms db {r.get('db_cpu_ms_per_request')} ms"
            f" client {r.get('client_cpu_ms_per_request')} ms"
        )
    print(f"at most {routes['/row']['achieved_per_s'] / 2:.0f} two-request pairs/s of one statement each")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
