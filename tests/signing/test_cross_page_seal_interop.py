"""The cross-page seal checked by tools we did not write: pdfsig, qpdf and pdftoppm renders.

pdfsig asks the OCSP responder named in each certificate, so the platform is served for real on a
loopback port (see tests/signing/test_interop.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.signing import service as signing_service
from tests.signing.conftest import USCC, Signer
from tests.signing.test_cross_page_seal import SEAL_RECT, two_signatures
from tests.support.live import base_url_of, pdfsig_trusting

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "pdftoppm", "qpdf", "certutil")),
    reason="poppler-utils, qpdf and libnss3-tools are needed",
)
DPI = 72  # one pixel per point


@pytest.fixture
def settings_overrides(loopback_socket: socket.socket) -> dict[str, Any]:
    return {"public_base_url": base_url_of(loopback_socket)}


def _render(pdf: Path, workdir: Path) -> list[Image.Image]:
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), str(pdf), str(workdir / "page")], check=True, timeout=120)
    return [Image.open(p).convert("RGB") for p in sorted(workdir.glob("page-*.png"))]


def _red_columns(image: Image.Image, x_from: int, x_to: int, y_from: int, y_to: int) -> int:
    """Count columns in the band holding at least one seal-red pixel."""
    px = image.load()
    assert px is not None
    found = 0
    for x in range(x_from, x_to):
        if any(_is_red(px[x, y]) for y in range(y_from, y_to)):
            found += 1
    return found


def _is_red(rgb: Any) -> bool:
    r, g, b = rgb[:3]
    return bool(r > 150 and g < 110 and b < 110)


def test_cross_page_seal_passes_pdfsig_qpdf_and_lines_up_in_renders(served: Runtime, tmp_path: Path) -> None:
    runtime, pages = served, 3
    with runtime.transaction() as s:
        person = Signer(
            cert=pki_service.issue_person_certificate(
                session=s, clock=runtime.clock, subject_id=new_id("usr"), name="张三"
            ),
            chain=pki_service.ca_chain(session=s),
        )
        org = Signer(
            cert=pki_service.issue_org_certificate(
                session=s, clock=runtime.clock, subject_id=new_id("org"), org_name="示例科技有限公司", uscc=USCC
            ),
            chain=pki_service.ca_chain(session=s),
        )
        root = pki_service.ca_certificate(session=s, kind="root").pem
    completed = signing_service.complete_document(runtime=runtime, data=two_signatures(runtime, person, org, pages))
    pdf = tmp_path / "signed.pdf"
    pdf.write_bytes(completed)
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, timeout=120).returncode == 0
    verdict = pdfsig_trusting(pdf, root, tmp_path)
    assert verdict.count("Signature is Valid.") == 2, verdict
    assert verdict.count("Certificate is Trusted.") == 2, verdict
    assert "not signed" not in verdict, verdict  # the strips are widgets of the signed field, not fields

    renders = _render(pdf, tmp_path)
    assert len(renders) == pages
    strip = round(min(SEAL_RECT.width, SEAL_RECT.height) / pages)
    for image in renders:
        middle = image.height // 2
        band = (middle - 60, middle + 60)
        # The strip fills the last `strip` columns at the right edge, and nothing red lies left of it.
        assert _red_columns(image, image.width - strip, image.width, *band) >= strip * 3 // 4
        assert _red_columns(image, image.width - strip - 30, image.width - strip - 1, *band) == 0
    # Put side by side, the strips make the whole seal: the joined image is as red as the seal itself.
    joined = Image.new("RGB", (strip * pages, 120), "white")
    for i, image in enumerate(renders):
        middle = image.height // 2
        joined.paste(image.crop((image.width - strip, middle - 60, image.width, middle + 60)), (i * strip, 0))
    joined.save(tmp_path / "joined.png")
    last = renders[-1]
    whole = last.crop((380, last.height - 240, 500, last.height - 120))
    whole.save(tmp_path / "whole.png")
    joined_red = sum(_is_red(joined.getpixel((x, y))) for x in range(joined.width) for y in range(joined.height))
    whole_red = sum(_is_red(whole.getpixel((x, y))) for x in range(whole.width) for y in range(whole.height))
    assert whole_red > 500
    assert abs(joined_red - whole_red) < whole_red * 0.15
