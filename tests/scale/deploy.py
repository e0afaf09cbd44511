"""A real deployment in subprocesses, and a whole contract driven through its REST API.

`Deployment` starts `qianshu serve` processes (and a `qianshu worker`) with one environment, the
way an operator would. `run_contract` registers three people, verifies the signers, sends a
two-signer contract and has it signed to completion, spreading the requests over the processes
it is given; the SMS codes are read from the SMS sandbox (the real notify path, over HTTP).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.identity.conftest import make_id

PASSWORD = "Scale-out-contract-42!"
ID_NUMBER = "sensitive.id_number"
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成如下协议。"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 240) -> None:
    """Wait until `url`/readyz answers 200 (a guard against hanging, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready: {log.read_text(errors='replace')[-3000:]}")


@dataclass
class Deployment:
    """Processes of one deployment, sharing one environment (settings) and one data volume."""

    env: dict[str, str]
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        """Start `qianshu ARGS…` with its output in `<workdir>/<name>.log`."""
        log = self.workdir / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "qianshu.cli", *args],
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc, log

    def serve(self, name: str, port: int) -> str:
        """Start an app process on `port` and wait until it is ready; return its base URL."""
        proc, log = self.start(name, ["serve", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        self.urls.append(url)
        return url

    def stop(self) -> None:
        """Terminate every process (SIGTERM, then SIGKILL after a grace period)."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)

    def logs(self) -> str:
        """Return the tail of every process log (for assertion messages)."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(self.workdir.glob("*.log"))
        )


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server as a child process on a free loopback port; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = None
    for line in proc.stderr:
        found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        proc.kill()
        raise AssertionError("moto server did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its request log
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Inbox:
    """Reads one-time codes from the SMS sandbox of the deployment, each message once."""

    def __init__(self, sandbox_base: str) -> None:
        self.base = sandbox_base
        self.seen: set[str] = set()

    def code(self, phone: str, *, timeout: float = 60) -> str:
        """Wait for a new message to `phone` holding a 6-digit code; return the code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = httpx.get(f"{self.base}/sandbox/sms/messages", params={"phone": phone}, timeout=10)
            for message in reversed(r.json()["messages"]):  # oldest first
                if message["id"] in self.seen:
                    continue
                self.seen.add(message["id"])
                codes = re.findall(r"(?<!\d)\d{6}(?!\d)", message["text"])
                if codes:
                    return str(codes[0])
            time.sleep(0.2)
        raise AssertionError(f"no code arrived for …{phone[-4:]}: the job did not run")


def _ok(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url} → {r.status_code} {r.text[:800]}"
    return r.json()


def register(base: str, inbox: Inbox, phone: str) -> str:
    """Register `phone` on the app at `base` and sign in; return the session token."""
    policy = _ok(httpx.get(f"{base}/api/v1/privacy/policies/current", timeout=10), 200)["version"]
    _ok(httpx.post(f"{base}/api/v1/accounts/register/start", json={"phone": phone}, timeout=30), 202)
    body = {"phone": phone, "code": inbox.code(phone), "password": PASSWORD, "accept_policy_version": policy}
    _ok(httpx.post(f"{base}/api/v1/accounts/register/complete", json=body, timeout=30), 201)
    login = _ok(httpx.post(f"{base}/api/v1/sessions", json={"login": phone, "password": PASSWORD}, timeout=30), 201)
    return str(login["token"])


def verify(base: str, token: str, name: str, seq: str) -> None:
    """Verify the signed-in person's identity (two elements) on the app at `base`."""
    h = {"Authorization": f"Bearer {token}"}
    started = httpx.post(
        f"{base}/api/v1/identity/verifications",
        json={"level": "two_elements", "consents": [ID_NUMBER]},
        headers=h,
        timeout=30,
    )
    vid = _ok(started, 201)["id"]
    done = httpx.post(
        f"{base}/api/v1/identity/verifications/{vid}/elements",
        json={"name": name, "id_number": make_id(seq=seq)},
        headers=h,
        timeout=60,
    )
    assert _ok(done, 200)["status"] == "verified", done.text


@dataclass(frozen=True)
class Completed:
    """A contract signed to completion: its id, the signing links, and who holds which token."""

    contract_id: str
    sender_token: str
    signer_tokens: dict[str, str]
    links: dict[str, str]


def run_contract(
    *, sender_base: str, signer_base: str, inbox: Inbox, phones: tuple[str, str, str], seq: int = 300
) -> Completed:
    """Sender on `sender_base`, both signers on `signer_base`; sign in order to completion."""
    sender_phone, *signer_phones = phones
    sender = register(sender_base, inbox, sender_phone)
    signers = {}
    for i, (phone, name) in enumerate(zip(signer_phones, ("张三", "李四"), strict=True)):
        signers[phone] = register(signer_base, inbox, phone)
        verify(signer_base, signers[phone], name, f"{seq + i:03d}")
    hs = {"Authorization": f"Bearer {sender}"}
    tpl = _ok(httpx.post(f"{sender_base}/api/v1/templates", json={"title": "服务合同", "body": BODY}, headers=hs), 201)
    doc = _ok(
        httpx.post(
            f"{sender_base}/api/v1/templates/{tpl['id']}/documents",
            json={"values": {"甲方": "张三", "乙方": "李四", "事项": "软件开发"}},
            headers=hs,
            timeout=30,
        ),
        201,
    )
    recipients = [
        {
            "phone": phone,
            "routing_order": i + 1,
            "fields": [{"kind": "signature", "page": 0, "x1": 80 + 220 * i, "y1": 90, "x2": 260 + 220 * i, "y2": 160}],
        }
        for i, phone in enumerate(signer_phones)
    ]
    created = _ok(
        httpx.post(
            f"{sender_base}/api/v1/contracts",
            json={"document_id": doc["id"], "recipients": recipients},
            headers=hs,
            timeout=30,
        ),
        201,
    )
    contract_id = str(created["id"])
    sent = _ok(httpx.post(f"{sender_base}/api/v1/contracts/{contract_id}/send", headers=hs, timeout=60), 200)
    masked = {r["id"]: r["contact_masked"] for r in sent["contract"]["recipients"]}
    links = {}
    for link in sent["links"]:
        phone = next(p for p in signer_phones if p[-4:] == masked[link["recipient_id"]][-4:])
        links[phone] = link["url"].rsplit("/", 1)[1]
    status = ""
    for phone in signer_phones:
        h = {"Authorization": f"Bearer {signers[phone]}"}
        _ok(httpx.post(f"{signer_base}/api/v1/sign/{links[phone]}/intent-code", headers=h, timeout=30), 202)
        signed = _ok(
            httpx.post(
                f"{signer_base}/api/v1/sign/{links[phone]}/sign",
                json={"code": inbox.code(phone)},
                headers=h,
                timeout=120,
            ),
            200,
        )
        status = str(signed.get("status") or signed.get("contract", {}).get("status", ""))
    assert status == "completed", status
    return Completed(contract_id, sender, signers, links)


def contract_pdf(base: str, done: Completed) -> bytes:
    """Download the completed contract as its sender from the app at `base`."""
    r = httpx.get(
        f"{base}/api/v1/contracts/{done.contract_id}/pdf",
        headers={"Authorization": f"Bearer {done.sender_token}"},
        timeout=60,
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text[:500]
    return r.content


def root_der(base: str) -> bytes:
    """Fetch the platform's root certificate (DER) from its public URL."""
    r = httpx.get(f"{base}/pki/root.crt", timeout=10)
    assert r.status_code == 200
    body = r.content
    if body.startswith(b"-----BEGIN"):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_pem_x509_certificate(body).public_bytes(Encoding.DER)
    return body


def check_signed_pdf(pdf: bytes, root: bytes, workdir: Path) -> None:
    """Validate with pyHanko (B-LTA, trusted, intact) and, when installed, with poppler's pdfsig."""
    import shutil

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from qianshu.signing.service import validate_pdf

    report = validate_pdf(pdf, trust_roots=[root])
    assert report.ok, report.model_dump_json(indent=1)[:4000]
    assert len(report.signatures) == 2 and report.document_timestamps
    for sig in report.signatures:
        assert sig.trusted and sig.intact and sig.signature_valid, sig
        assert str(sig.pades_level).endswith("LTA"), sig.pades_level
    if shutil.which("pdfsig") and shutil.which("certutil"):
        from tests.support.live import pdfsig_trusting

        path = workdir / "signed.pdf"
        path.write_bytes(pdf)
        root_pem = x509.load_der_x509_certificate(root).public_bytes(Encoding.PEM).decode()
        out = pdfsig_trusting(path, root_pem, workdir)
        assert out.count("Signature is Valid.") == 2, out
        assert out.count("Certificate is Trusted.") == 2, out
