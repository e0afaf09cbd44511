"""Benchmark the transparency log: durable appends per second, sequencing rate and proof serving.

    python bench/log_append.py                                  # SQLite in a temporary folder
    python bench/log_append.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/log_append.py --entries 50000 --writers 8 --batch 200

What is measured, on one machine, through the log's own service functions:

- `append`: `--writers` processes (like app processes) submit entries in transactions of
  `--batch` entries (`translog.append_entries`); an entry counts once its transaction has
  committed, i.e. it is durable and will be sequenced even if every process dies right after.
  Also measured with one entry per transaction (`--single` entries), one caller per entry.
- `end_to_end`: meanwhile this process runs the sequencer (tree leaves, tiles and a signed
  checkpoint per batch of up to `log_batch_max`); entries / seconds until the last entry is in
  a signed checkpoint is the rate at which entries become provable.
- `proofs`: inclusion proofs served per second for random indices of the final tree.

With a PostgreSQL URL a fresh database is created for the run and dropped afterwards. Writes
`bench/results/log_append-<backend>.json`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from qianshu import bootstrap
from qianshu.config import Settings
from qianshu.core.runtime import Runtime
from qianshu.evidence import translog

RESULTS = Path(__file__).parent / "results"


def _entry(i: int) -> dict[str, Any]:
    return {"type": "preservation", "id": f"bench{i}", "sha256": f"{i:064x}"}


def _writer(settings: dict[str, Any], first: int, count: int, batch: int, ready: Any) -> tuple[float, float]:
    """One writer process: append `count` entries, `batch` per transaction.

    Returns its (start, end) on the system-wide monotonic clock, so that process start-up and
    imports are not counted.
    """
    runtime = Runtime(Settings(**settings))
    try:
        with runtime.transaction() as s:  # connect before the clock starts
            translog.tree_size(session=s)
        ready.wait()
        start = time.perf_counter()
        done = 0
        while done < count:
            n = min(batch, count - done)
            with runtime.transaction() as s:
                entries = [_entry(first + done + k) for k in range(n)]
                translog.append_entries(session=s, clock=runtime.clock, entries=entries)
            done += n
        return start, time.perf_counter()
    finally:
        runtime.close()


def _appends(runtime: Runtime, settings: dict[str, Any], total: int, writers: int, batch: int) -> tuple[float, float]:
    """Append `total` entries from `writers` processes while this process sequences them.

    Return (seconds until every append was durable, seconds until every entry was sequenced).
    """
    per_writer = total // writers
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(writers, mp_context=ctx) as pool:
        ready = manager.Barrier(writers)
        futures = [pool.submit(_writer, settings, w * per_writer, per_writer, batch, ready) for w in range(writers)]
        while not all(f.done() for f in futures):
            translog.sequence_pending(runtime)
            time.sleep(0.01)
        spans = [f.result() for f in futures]
    start = min(a for a, _ in spans)
    appended = max(b for _, b in spans) - start
    with runtime.transaction() as s:
        before = translog.tree_size(session=s)
    while True:
        batch_read = translog.sequence_pending(runtime)
        if batch_read.sequenced == 0 and not batch_read.lease_busy:
            break
    assert batch_read.tree_size >= before
    return appended, time.perf_counter() - start


def _pg_database(admin_url: str) -> tuple[str, Any]:
    name = f"qianshu_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), (admin, name)


def _drop(handle: Any) -> None:
    admin, name = handle
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--writers", type=int, default=2, help="writer processes")
    parser.add_argument("--batch", type=int, default=100, help="entries per append transaction")
    parser.add_argument("--single", type=int, default=1000, help="entries appended one per transaction")
    parser.add_argument("--sequencer-batch", type=int, default=10000, help="log_batch_max")
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()

    backend = "postgresql" if args.database_url else "sqlite"
    handle = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url:
            url, handle = _pg_database(args.database_url)
        else:
            url = f"sqlite:///{tmp}/bench.db"
        values: dict[str, Any] = {
            "data_dir": Path(tmp) / "data",
            "database_url": url,
            "worker_in_process": False,
            "demo": False,
            "log_batch_max": args.sequencer_batch,
        }
        runtime = Runtime(Settings(**values))
        try:
            bootstrap.prepare(runtime)
            results = _run(runtime, values, args)
        finally:
            runtime.close()
            if handle is not None:
                _drop(handle)
    results.update(
        {
            "backend": backend,
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "args": vars(args) | {"database_url": "postgresql" if args.database_url else ""},
        }
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"log_append-{backend}.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for key in ("append_per_s", "single_append_per_s", "end_to_end_per_s", "proofs_per_s"):
        print(f"{key:>22}: {results[key]:>12,.0f}")
    print(f"written to {out}")
    return 0


def _run(runtime: Runtime, settings: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    total = args.entries - args.entries % args.writers
    append_s, end_to_end_s = _appends(runtime, settings, total, args.writers, args.batch)
    single = args.single - args.single % args.writers
    single_s, _ = _appends(runtime, settings, single, args.writers, 1)

    with runtime.transaction() as s:
        size = translog.tree_size(session=s)
        assert size == total + single, size
        rng = random.Random(7)
        start = time.perf_counter()
        for _ in range(args.proofs):
            translog.inclusion_proof(session=s, index=rng.randrange(size))
        proofs_s = time.perf_counter() - start
    return {
        "entries": total,
        "tree_size": size,
        "append_s": round(append_s, 3),
        "append_per_s": total / append_s,
        "single_entries": single,
        "single_append_per_s": single / single_s,
        "end_to_end_s": round(end_to_end_s, 3),
        "end_to_end_per_s": total / end_to_end_s,
        "proofs_per_s": args.proofs / proofs_s,
    }


if __name__ == "__main__":
    raise SystemExit(main())
