"""Evidence documents checked by tools we did not write: poppler's pdfsig and pdftoppm, and qpdf.

pdfsig asks the OCSP responder named in each certificate, so the platform is served for real on a
loopback port, with the real clock (NSS judges OCSP freshness and validity by wall time).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qianshu.config import Settings
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import preservation, reports
from qianshu.pki import service as pki_service
from tests.support.live import serve_platform

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "pdftoppm", "qpdf", "certutil")),
    reason="poppler-utils, qpdf and libnss3-tools are needed",
)
CONTENT = "房屋租赁合同（示例）\n出租方：张三\n承租方：李四\n".encode() * 20


@pytest.fixture
def _listen_socket(db_backend: str) -> Iterator[socket.socket]:
    if db_backend == "postgres":
        pytest.skip("interop checks run once, on SQLite")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture
def settings_overrides(_listen_socket: socket.socket) -> dict[str, Any]:
    return {"public_base_url": f"http://127.0.0.1:{_listen_socket.getsockname()[1]}"}


@pytest.fixture
def served(settings: Settings, _listen_socket: socket.socket) -> Iterator[Runtime]:
    """The platform on loopback (OCSP, CRLs, CA certificates); yields its real-clock runtime."""
    with serve_platform(settings, _listen_socket) as runtime:
        yield runtime


def _pdfsig(pdf: Path, root_pem: str, tmp_path: Path) -> str:
    (tmp_path / "root.pem").write_text(root_pem)
    nss = tmp_path / "nss"
    if not nss.exists():
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, timeout=30)
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{nss}",
                "-n",
                "qianshu-root",
                "-t",
                "C,C,C",
                "-i",
                str(tmp_path / "root.pem"),
            ],
            check=True,
            timeout=30,
        )
    return subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, timeout=120
    ).stdout


def _render(pdf: Path, out: Path) -> Image.Image:
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", str(pdf), str(out)], check=True, timeout=60)
    return Image.open(out.with_suffix(".png")).convert("RGB")


def _pixels(region: Image.Image) -> list[tuple[int, int, int]]:
    data = region.tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def _dark(region: Image.Image) -> int:
    return sum(1 for r, g, b in _pixels(region) if max(r, g, b) < 120)


def _red(region: Image.Image) -> int:
    return sum(1 for r, g, b in _pixels(region) if r > 170 and g < 90 and b < 90)


def test_certificate_and_report_pass_pdfsig_qpdf_and_render_chinese(served: Runtime, tmp_path: Path) -> None:
    runtime = served
    owner = new_id("usr")
    record = preservation.submit_file(runtime=runtime, owner_id=owner, stream=CONTENT, label="租赁合同.txt")
    with runtime.transaction() as session:
        created = reports.request_report(
            session=session,
            clock=runtime.clock,
            requester_id=owner,
            subject_kind="preservation",
            subject_id=record.id,
        )
    issued = reports.approve_and_issue(runtime=runtime, report_id=created.id, operator_id=new_id("usr"))
    assert issued.status == "issued"
    with runtime.transaction() as session:
        certificate = preservation.certificate_bytes(session=session, preservation_id=record.id, viewer_id=owner)
        report = reports.report_bytes(session=session, report_id=created.id, viewer_id=owner)
        root_pem = pki_service.pem(pki_service.root_certificate_der(session=session))
    for name, pdf in (("certificate", certificate), ("report", report)):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf)
        out = _pdfsig(path, root_pem, tmp_path)
        assert "Signature is Valid." in out and "Certificate is Trusted." in out, out
        assert f"Signer Certificate Common Name: {runtime.settings.operator_name}" in out
        assert "Total document signed" in out  # the document time-stamp covers the whole file (B-LTA)
        qpdf = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60)
        assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr
        page = _render(path, tmp_path / name)
        width, height = page.size
        title = page.crop((width // 4, int(height * 0.04), width * 3 // 4, int(height * 0.11)))
        assert _dark(title) > 150, name  # the title's Chinese glyphs are drawn (embedded font)
        seal = page.crop((int(width * 0.6), int(height * 0.68), int(width * 0.95), int(height * 0.93)))
        assert _red(seal) > 800, name  # the platform's red seal is the signature's appearance
