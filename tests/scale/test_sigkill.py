"""SIGKILL an app process in the middle of signing, and a worker in the middle of a bulk send.

Real processes on PostgreSQL + Redis (Dramatiq worker). The kill lands while the process holds the
contract's (or the bulk send's) row lock, seen in PostgreSQL's `pg_locks`, so it is inside the
transaction that signs (and, for the last signer, completes the PDF to B-LTA and appends to the
transparency log) or that creates a batch of contracts. After a restart: no signature is lost or
duplicated, the contract completes and validates, `qianshu audit verify` passes, the log's newer
checkpoint is proven consistent with one taken before; every bulk-send row made exactly one
contract. Skipped unless QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qianshu.evidence import checkpoint, merkle
from tests.conftest import PG_URL, REDIS_URL
from tests.scale.deploy import BODY, Deployment, Inbox, _ok, check_signed_pdf, free_port, register, root_der, verify
from tests.scale.faults import engine_for, private_database, row_lock_held, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("scale-faults"),
    pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL"),
]


class Killable:
    """One app process and one worker of a deployment, each restartable after a SIGKILL."""

    def __init__(self, dep: Deployment, port: int) -> None:
        self.dep, self.port, self.starts = dep, port, 0
        self.app = self._serve()
        self.worker = self.start_worker()

    def _serve(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        self.dep.serve(f"app-{self.starts}", self.port)
        return self.dep.procs[-1]

    def start_worker(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        proc, _ = self.dep.start(f"worker-{self.starts}", ["worker", "--threads", "2"])
        return proc

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill_app_and_restart(self) -> None:
        self.app.kill()  # SIGKILL: no shutdown handler runs
        self.app.wait(timeout=60)
        self.app = self._serve()

    def kill_worker(self) -> None:
        self.worker.kill()
        self.worker.wait(timeout=60)


@pytest.fixture
def killable(tmp_path: Path) -> Iterator[tuple[Killable, Engine]]:
    with private_database() as db_url:
        port = free_port()
        env = {
            **os.environ,
            "QIANSHU_DATA_DIR": str(tmp_path / "shared-data"),
            "QIANSHU_DATABASE_URL": db_url,
            "QIANSHU_REDIS_URL": str(REDIS_URL),
            "QIANSHU_JOBS_BACKEND": "dramatiq",
            "QIANSHU_BROKER_URL": str(REDIS_URL),
            "QIANSHU_DRAMATIQ_QUEUE": f"qs_kill_{uuid.uuid4().hex[:8]}",
            "QIANSHU_RELAY_INTERVAL_SECONDS": "0.2",
            "QIANSHU_WORKER_IN_PROCESS": "false",
            "QIANSHU_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "QIANSHU_SIGNING_IDENTITY_LEVEL": "two_elements",
            "QIANSHU_OTP_RESEND_SECONDS": "0",
            "QIANSHU_CONTRACT_BULK_BATCH_ROWS": "2",
            "QIANSHU_DEMO": "false",
            "QIANSHU_PASSWORD_HASH_MEMORY_KIB": "1024",
            "QIANSHU_PASSWORD_HASH_TIME_COST": "1",
            "QIANSHU_PASSWORD_HASH_PARALLELISM": "1",
        }
        dep = Deployment(env=env, workdir=tmp_path)
        engine = engine_for(db_url)
        try:
            yield Killable(dep, port), engine
        finally:
            dep.stop()
            engine.dispose()


def _checkpoint(base: str) -> checkpoint.Checkpoint:
    key = httpx.get(f"{base}/log/key", timeout=30).text.strip()
    return checkpoint.verify_checkpoint(httpx.get(f"{base}/log/checkpoint", timeout=30).text, key)


def _send_contract(base: str, inbox: Inbox, sender: str, phones: list[str]) -> tuple[str, dict[str, str]]:
    hs = {"Authorization": f"Bearer {sender}"}
    tpl = _ok(httpx.post(f"{base}/api/v1/templates", json={"title": "服务合同", "body": BODY}, headers=hs), 201)
    doc = _ok(
        httpx.post(
            f"{base}/api/v1/templates/{tpl['id']}/documents",
            json={"values": {"甲方": "张三", "乙方": "李四", "事项": "软件开发"}},
            headers=hs,
            timeout=60,
        ),
        201,
    )
    recipients = [
        {
            "phone": phone,
            "routing_order": i + 1,
            "fields": [{"kind": "signature", "page": 0, "x1": 80 + 220 * i, "y1": 90, "x2": 260 + 220 * i, "y2": 160}],
        }
        for i, phone in enumerate(phones)
    ]
    created = _ok(
        httpx.post(
            f"{base}/api/v1/contracts",
            json={"document_id": doc["id"], "recipients": recipients},
            headers=hs,
            timeout=60,
        ),
        201,
    )
    sent = _ok(httpx.post(f"{base}/api/v1/contracts/{created['id']}/send", headers=hs, timeout=60), 200)
    masked = {r["id"]: r["contact_masked"] for r in sent["contract"]["recipients"]}
    links = {}
    for link in sent["links"]:
        phone = next(p for p in phones if p[-4:] == masked[link["recipient_id"]][-4:])
        links[phone] = link["url"].rsplit("/", 1)[1]
    return str(created["id"]), links


def _contract(base: str, sender: str, contract_id: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/api/v1/contracts/{contract_id}", headers={"Authorization": f"Bearer {sender}"}, timeout=60)
    return dict(_ok(r, 200))


def _sign_killed_midway(
    k: Killable, engine: Engine, inbox: Inbox, link: str, token: str, phone: str, *, latest: float
) -> bool:
    """Start signing, SIGKILL the app while it holds the contract's lock, restart it.

    The kill comes at a random point up to `latest` seconds after the lock is seen. Return whether
    it interrupted the request (the client saw the connection die rather than an answer).
    """
    h = {"Authorization": f"Bearer {token}"}
    _ok(httpx.post(f"{k.base}/api/v1/sign/{link}/intent-code", headers=h, timeout=60), 202)
    code = inbox.code(phone)
    outcome: list[object] = []

    def sign() -> None:
        try:
            outcome.append(httpx.post(f"{k.base}/api/v1/sign/{link}/sign", json={"code": code}, headers=h, timeout=300))
        except httpx.HTTPError as exc:  # the process died under the request
            outcome.append(exc)

    thread = threading.Thread(target=sign)
    thread.start()
    wait_for(lambda: row_lock_held(engine, "contracts_contract") or outcome, "the signing transaction", every=0.01)
    assert not outcome, f"the request ended before the kill: {outcome}"
    threading.Event().wait(random.uniform(0, latest))  # a random point inside the transaction
    k.kill_app_and_restart()
    thread.join(timeout=300)
    assert outcome, "the request neither ended nor failed"
    if isinstance(outcome[0], httpx.Response):  # it committed and answered just before the kill
        assert outcome[0].status_code == 200, outcome[0].text[:500]
        return False
    return True


def _finish_signing(k: Killable, inbox: Inbox, link: str, token: str, phone: str) -> None:
    """Sign again if the killed attempt was rolled back; a committed one is refused as already signed."""
    h = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{k.base}/api/v1/sign/{link}/intent-code", headers=h, timeout=60)
    if r.status_code == 202:
        signed = httpx.post(
            f"{k.base}/api/v1/sign/{link}/sign", json={"code": inbox.code(phone)}, headers=h, timeout=300
        )
        assert signed.status_code in (200, 409), signed.text[:500]
    else:
        assert r.status_code == 409, r.text[:500]  # already signed: the killed attempt had committed


def test_app_killed_while_signing_loses_and_duplicates_nothing(
    killable: tuple[Killable, Engine], tmp_path: Path
) -> None:
    k, engine = killable
    base = k.base
    inbox = Inbox(base)
    sender = register(base, inbox, "13900139400")
    phones = ["13800138401", "13800138402"]
    tokens = {}
    for i, (phone, name) in enumerate(zip(phones, ("张三", "李四"), strict=True)):
        tokens[phone] = register(base, inbox, phone)
        verify(base, tokens[phone], name, f"{400 + i:03d}")
    contract_id, links = _send_contract(base, inbox, sender, phones)
    before = _checkpoint(base)

    interrupted = []
    # The first kill follows the lock at once, so it lands inside the signing transaction; the
    # second at a random point, possibly in the completion (B-LTA, log append) too.
    for phone, latest in zip(phones, (0.0, 0.5), strict=True):
        interrupted.append(_sign_killed_midway(k, engine, inbox, links[phone], tokens[phone], phone, latest=latest))
        _finish_signing(k, inbox, links[phone], tokens[phone], phone)
    assert any(interrupted), "no kill interrupted a signing request: the test did not test a crash mid-transaction"

    contract = _contract(k.base, sender, contract_id)
    assert contract["status"] == "completed", contract
    assert [r["status"] for r in contract["recipients"]] == ["signed", "signed"], contract
    pdf = _ok_pdf(k.base, sender, contract_id)
    check_signed_pdf(pdf, root_der(k.base), tmp_path)  # exactly two signatures, both B-LTA and valid
    with engine.connect() as conn:
        signatures = conn.execute(text("SELECT signatures FROM contracts_contract WHERE id = :id"), {"id": contract_id})
        assert signatures.scalar_one() == 2

    audit = subprocess.run(
        [sys.executable, "-m", "qianshu.cli", "audit", "verify"],
        env=k.dep.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr

    after = wait_for(lambda: (cp := _checkpoint(k.base)).size > before.size and cp, "a newer checkpoint")
    if before.size == 0:  # the empty tree is a prefix of every tree (RFC 9162 §2.1.4): no proof to ask for
        merkle.verify_consistency(0, after.size, [], before.root_hash, after.root_hash)
        return
    body = _ok(
        httpx.get(
            f"{k.base}/api/v1/log/proof/consistency",
            params={"first": before.size, "second": after.size},
            timeout=60,
        ),
        200,
    )
    merkle.verify_consistency(
        before.size, after.size, [bytes.fromhex(x) for x in body["hashes"]], before.root_hash, after.root_hash
    )


def _ok_pdf(base: str, sender: str, contract_id: str) -> bytes:
    r = httpx.get(
        f"{base}/api/v1/contracts/{contract_id}/pdf", headers={"Authorization": f"Bearer {sender}"}, timeout=60
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text[:500]
    return r.content


ROWS = 16


def test_worker_killed_during_bulk_send_makes_each_contract_once(killable: tuple[Killable, Engine]) -> None:
    k, engine = killable
    base = k.base
    inbox = Inbox(base)
    sender = register(base, inbox, "13900139500")
    hs = {"Authorization": f"Bearer {sender}"}
    tpl = _ok(httpx.post(f"{base}/api/v1/templates", json={"title": "批量合同", "body": BODY}, headers=hs), 201)
    lines = ["姓名,手机号,甲方,乙方,事项"] + [f"签署人{i},1370013{i:04d},甲公司,乙{i},事项{i}" for i in range(ROWS)]
    bulk = _ok(
        httpx.post(
            f"{base}/api/v1/templates/{tpl['id']}/bulk-sends",
            content="\n".join(lines).encode(),
            headers={**hs, "content-type": "text/csv"},
            timeout=60,
        ),
        202,
    )

    def progress() -> dict[str, Any]:
        listed = _ok(httpx.get(f"{base}/api/v1/bulk-sends", headers=hs, timeout=60), 200)
        return dict(next(b for b in listed if b["id"] == bulk["id"]))

    wait_for(lambda: row_lock_held(engine, "contracts_bulk_send"), "a batch in progress", every=0.02)
    k.kill_worker()
    mid = progress()
    assert mid["status"] != "done", "the bulk send finished before the worker was killed"
    k.worker = k.start_worker()
    done = wait_for(lambda: (p := progress())["status"] == "done" and p, "the bulk send to finish", timeout=400)

    assert done["errors"] == [] and done["succeeded"] == done["total"] == ROWS, done
    assert sorted(r["line"] for r in done["results"]) == list(range(2, ROWS + 2)), done["results"]
    ids = [r["contract_id"] for r in done["results"]]
    assert len(set(ids)) == ROWS
    with engine.connect() as conn:
        made = conn.execute(text("SELECT id FROM contracts_contract")).scalars().all()
        recipients = conn.execute(text("SELECT count(*) FROM contracts_recipient")).scalar_one()
    assert sorted(made) == sorted(ids), "a contract was made twice or not recorded"
    assert recipients == ROWS
