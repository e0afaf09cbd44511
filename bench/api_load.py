"""Benchmark the contracts API: create + send throughput and latency against a real `qianshu serve`.

    python bench/api_load.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/api_load.py --database-url … --redis-url redis://127.0.0.1:6379/14 --workers 2 --rates 25,50

A fresh PostgreSQL database and data folder are made for the run; `qianshu serve --workers N`
runs as a subprocess on a free loopback port (its in-process job worker sends the signing SMS
to the sandbox as in a real deployment). An operator account made with `qianshu user
create-admin` logs in through the API, fills a template into a document once, then:

- fixed rates (open loop): every 1/rate seconds a client creates a contract with one signer and
  sends it (`POST /api/v1/contracts` then `POST /api/v1/contracts/{id}/send`); the latency of
  the pair is recorded whether or not the server keeps up, so queueing shows in p99;
- saturation (closed loop, `--concurrency` clients back to back): the most create + send pairs
  per second the deployment completes.

The load generator runs on the same machine and takes some of its CPU. Each phase also reports the
CPU time the app processes (`app_cpu_ms_per_pair`, from /proc) and the database's server processes
(`db_cpu_ms_per_pair`) spent per completed pair, a figure that other load on the machine does not
distort. Writes `bench/results/api_load.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

RESULTS = Path(__file__).parent / "results"
EMAIL, PASSWORD = "bench@example.com", "Bench-api-load-2026!"
_POOLS, _POOL = 8, 16  # connection pools and connections per pool: at most 128 pairs in flight at once
FIELD = {"kind": "signature", "page": 0, "x1": 80, "y1": 100, "x2": 240, "y2": 170}
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成如下协议。"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Client:
    """One logged-in API client and the document every contract is made from."""

    def __init__(self, base: str, token: str, document_id: str) -> None:
        # Several small connection pools, not one large one: httpcore looks at every connection of
        # its pool on each request (a few system calls each), so with a pool of 200 an overloaded
        # phase spent more of the shared CPU in the load generator than in the server. Pairs beyond
        # the connections wait for the gate; a pair's clock runs from its scheduled start, so the
        # wait counts in its latency.
        limits = httpx.Limits(max_connections=_POOL, max_keepalive_connections=_POOL)
        headers = {"authorization": f"Bearer {token}"}
        self.pools = [
            httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) for _ in range(_POOLS)
        ]
        self.gate = asyncio.Semaphore(_POOLS * _POOL)
        self.document_id = document_id
        self.n = 0
        self.statuses: collections.Counter[str] = collections.Counter()

    async def create_and_send(self) -> tuple[float, bool]:
        self.n += 1
        phone = f"139{self.n % 100_000_000:08d}"
        body = {
            "document_id": self.document_id,
            "title": f"压测合同 {self.n}",
            "recipients": [
                {
                    "phone": phone,
                    "fields": [{"kind": "signature", "page": 0, "x1": 80, "y1": 100, "x2": 240, "y2": 170}],
                }
            ],
        }
        start = time.perf_counter()
        async with self.gate:
            return await self._pair(body, start)

    async def aclose(self) -> None:
        for http in self.pools:
            await http.aclose()

    async def _pair(self, body: dict[str, Any], start: float) -> tuple[float, bool]:
        http = self.pools[self.n % _POOLS]
        try:
            created = await http.post("/api/v1/contracts", json=body, headers={"idempotency-key": uuid.uuid4().hex})
            ok = created.status_code == 201
            self.statuses[f"create {created.status_code}"] += 1
            if ok:
                sent = await http.post(f"/api/v1/contracts/{created.json()['id']}/send")
                ok = sent.status_code == 200
                self.statuses[f"send {sent.status_code}"] += 1
        except httpx.HTTPError as exc:
            self.statuses[type(exc).__name__] += 1
            ok = False
        return time.perf_counter() - start, ok


async def _fixed_rate(client: Client, rate: float, seconds: float) -> dict[str, Any]:
    tasks: list[asyncio.Task[tuple[float, bool]]] = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.create_and_send()))
    results = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return summary(results, elapsed) | {"target_per_s": rate}


async def _drain(client: Client, limit_s: float = 180) -> None:
    """Wait until the server has worked off an overloaded phase's backlog (requests the clients gave up on).

    One pair at a time until one answers within a second, so the next phase starts on an idle
    server instead of inheriting the queue; these pairs are not counted.
    """
    deadline = time.perf_counter() + limit_s
    counted = client.statuses.copy()
    try:
        while time.perf_counter() < deadline:
            latency, ok = await client.create_and_send()
            if ok and latency < 1.0:
                return
        print(f"the server was still busy after {limit_s:.0f} s; the next phase starts anyway", file=sys.stderr)
    finally:
        client.statuses = counted


async def _saturate(client: Client, concurrency: int, seconds: float) -> dict[str, Any]:
    results: list[tuple[float, bool]] = []
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < stop:
            results.append(await client.create_and_send())

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return summary(results, time.perf_counter() - start) | {"concurrency": concurrency}


def summary(results: list[tuple[float, bool]], elapsed: float) -> dict[str, Any]:
    ok = [lat for lat, good in results if good]
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "achieved_per_s": round(len(ok) / elapsed, 1),
        "p50_ms": round(_percentile(ok, 0.50) * 1000, 1),
        "p90_ms": round(_percentile(ok, 0.90) * 1000, 1),
        "p99_ms": round(_percentile(ok, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(ok) * 1000, 1) if ok else None,
    }


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pids: list[int], *, descendants: bool) -> float:
    """User + system CPU seconds of `pids` (and, with `descendants`, their child processes) from /proc."""
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
            if descendants:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):  # gone, or no /proc: counted as nothing
            continue
    return total


class CpuMeter:
    """CPU spent by the app processes and by the bench database's server processes."""

    def __init__(self, app_pid: int, db_url: str, db_name: str) -> None:
        self.app_pid = app_pid
        self.db = create_engine(db_url, isolation_level="AUTOCOMMIT")
        self.db_name = db_name
        bench_url = make_url(db_url).set(database=db_name).render_as_string(hide_password=False)
        self.bench_db = create_engine(bench_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def jobs_due(self) -> int:
        """Jobs (the signing SMS among them) due but not yet run: work a phase left behind."""
        with self.bench_db.connect() as c:
            return int(
                c.execute(text("SELECT count(*) FROM job WHERE status = 'queued' AND run_after <= now()")).scalar_one()
            )

    def _db_pids(self) -> list[int]:
        with self.db.connect() as c:
            rows = c.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
                {"n": self.db_name},
            )
            return [int(r[0]) for r in rows]

    def read(self) -> dict[int | str, float]:
        reading: dict[int | str, float] = {
            "app": _cpu_seconds([self.app_pid], descendants=True),
            "client": time.process_time(),  # this load generator, which shares the machine
        }
        for pid in self._db_pids():
            reading[pid] = _cpu_seconds([pid], descendants=False)
        return reading

    @staticmethod
    def per_pair(before: dict[int | str, float], after: dict[int | str, float], pairs: int) -> dict[str, float]:
        if not pairs:
            return {}
        app = after["app"] - before["app"]
        client = after["client"] - before["client"]
        db = sum(v - before.get(k, 0.0) for k, v in after.items() if k not in ("app", "client"))  # new ones from 0
        return {
            "app_cpu_ms_per_pair": round(1000 * app / pairs, 1),
            "db_cpu_ms_per_pair": round(1000 * db / pairs, 1),
            "client_cpu_ms_per_pair": round(1000 * client / pairs, 1),
        }


def machine_facts(seconds: float) -> dict[str, Any]:
    """What a result file records about the run's machine."""
    return {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "seconds_per_phase": seconds,
    }


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"qianshu serve exited with {proc.returncode}: see its log")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("qianshu serve did not become ready")


async def _session(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post("/api/v1/sessions", json={"login": EMAIL, "password": PASSWORD})
        login.raise_for_status()
        token = login.json()["token"]
        http.cookies.clear()  # an integrator sends the bearer token only (no cookie, so no CSRF token)
        auth = {"authorization": f"Bearer {token}"}
        tpl = await http.post("/api/v1/templates", json={"title": "压测模板", "body": BODY}, headers=auth)
        if tpl.status_code != 201:
            raise SystemExit(f"template: {tpl.status_code} {tpl.text}")
        values = {"values": {"甲方": "甲公司", "乙方": "乙公司", "事项": "压力测试"}}
        doc = await http.post(f"/api/v1/templates/{tpl.json()['id']}/documents", json=values, headers=auth)
        doc.raise_for_status()
        return token, str(doc.json()["id"])


async def _load(base: str, args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    token, document_id = await _session(base)
    client = Client(base, token, document_id)

    async def measured(phase: Any) -> dict[str, Any]:
        before = meter.read()
        result: dict[str, Any] = await phase
        ok = result["requests"] - result["errors"]
        return result | CpuMeter.per_pair(before, meter.read(), ok) | {"jobs_due_after": meter.jobs_due()}

    try:
        for _ in range(20):  # warm-up: connections, caches, first jobs
            await client.create_and_send()
        rates = []
        for r in (r for r in args.rates.split(",") if r):
            rates.append(await measured(_fixed_rate(client, float(r), args.seconds)))
            await _drain(client)
        saturation = await measured(_saturate(client, args.concurrency, args.seconds))
    finally:
        await client.aclose()
        meter.db.dispose()
        meter.bench_db.dispose()
    return {"fixed_rates": rates, "saturation": saturation, "statuses": dict(client.statuses)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="PostgreSQL admin URL; a fresh database is made")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="shared by the app processes")
    parser.add_argument("--workers", type=int, default=2, help="app processes of qianshu serve")
    parser.add_argument("--rates", default="25,50", help="comma-separated fixed rates (create+send per s)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--job-worker",
        choices=("in-process", "separate"),
        default="in-process",
        help="where the jobs (the signing SMS) run: in the app processes, or in one `qianshu worker`",
    )
    args = parser.parse_args()

    name = f"qianshu_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = os.environ | {
                "QIANSHU_DATA_DIR": tmp,
                "QIANSHU_DATABASE_URL": url,
                "QIANSHU_REDIS_URL": args.redis_url,
                "QIANSHU_PUBLIC_BASE_URL": base,
                "QIANSHU_DEMO": "false",
            }
            qianshu = [sys.executable, "-m", "qianshu.cli"]
            subprocess.run([*qianshu, "db", "upgrade"], env=env, check=True, capture_output=True)
            subprocess.run(
                [*qianshu, "user", "create-admin", "--email", EMAIL, "--password", PASSWORD],
                env=env,
                check=True,
                capture_output=True,
            )
            serve = [*qianshu, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
            log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - closed with the folder
            if args.job_worker == "separate":  # jobs (the SMS) in a `qianshu worker` of their own
                env["QIANSHU_WORKER_IN_PROCESS"] = "false"
                worker = subprocess.Popen([*qianshu, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
            proc = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_ready(base, proc)
            except SystemExit:
                sys.stderr.write((Path(tmp) / "serve.log").read_text(errors="replace")[-3000:])
                raise
            results = asyncio.run(_load(base, args, CpuMeter(proc.pid, args.database_url, name)))
            if any(k.split()[-1].startswith("5") for k in results["statuses"]):  # show why, from the app's log
                failures = [
                    line
                    for line in (Path(tmp) / "serve.log").read_text(errors="replace").splitlines()
                    if '"level": "error"' in line
                ]
                sys.stderr.write("\n".join(failures[-20:]) + "\n")
    finally:
        for child in (worker, proc):
            if child is not None:
                child.terminate()
        if worker is not None:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=30)
        if proc is not None:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # uvicorn's workers may linger on open keep-alives
                proc.kill()
                proc.wait(timeout=30)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    results |= {"backend": "postgresql", "workers": args.workers, "job_worker": args.job_worker}
    results |= machine_facts(args.seconds)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "api_load.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for phase in results["fixed_rates"]:
        print(
            f"at {phase['target_per_s']:>5.0f}/s: {phase['achieved_per_s']:>6.1f}/s  p50 {phase['p50_ms']} ms"
            f"  p99 {phase['p99_ms']} ms  errors {phase['errors']}  CPU/pair app {phase.get('app_cpu_ms_per_pair')} ms"
            f" db {phase.get('db_cpu_ms_per_pair')} ms client {phase.get('client_cpu_ms_per_pair')} ms"
            f"  jobs due after {phase['jobs_due_after']}"
        )
    sat = results["saturation"]
    print(
        f"saturation ({sat['concurrency']} clients): {sat['achieved_per_s']}/s  p99 {sat['p99_ms']} ms"
        f"  errors {sat['errors']}  CPU/pair app {sat.get('app_cpu_ms_per_pair')} ms"
        f" db {sat.get('db_cpu_ms_per_pair')} ms client {sat.get('client_cpu_ms_per_pair')} ms"
        f"  jobs due after {sat['jobs_due_after']}"
    )
    print("answers:", results["statuses"])
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
