"""Filled-in values checked by tools we did not write: pdfsig, qpdf and pdftoppm renders.

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
from qianshu.signing.schemas import Rect
from tests.signing.conftest import USCC, Signer
from tests.signing.test_field_values import ORG_VALUES, PERSON_VALUES, person_then_org
from tests.support.live import base_url_of, pdfsig_trusting

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "pdftoppm", "qpdf", "certutil")),
    reason="poppler-utils, qpdf and libnss3-tools are needed",
)
DPI = 80
PAGE_HEIGHT = 842


@pytest.fixture
def settings_overrides(loopback_socket: socket.socket) -> dict[str, Any]:
    return {"public_base_url": base_url_of(loopback_socket)}


def _dark(image: Image.Image, rect: Rect, *, inset: float = 0) -> int:
    """Count dark (ink) pixels inside `rect` (points), `inset` points in from its edges."""
    scale = DPI / 72
    box = (
        round((rect.x1 + inset) * scale),
        round((PAGE_HEIGHT - rect.y2 + inset) * scale),
        round((rect.x2 - inset) * scale),
        round((PAGE_HEIGHT - rect.y1 - inset) * scale),
    )
    levels: list[int] = list(image.crop(box).convert("L").get_flattened_data())  # type: ignore[arg-type]  # L mode
    return sum(1 for v in levels if v < 110)


def _outside(rect: Rect, margin: float = 6) -> Rect:
    """The band just right of `rect` (where overflowing text would land)."""
    return Rect(x1=rect.x2 + 1, y1=rect.y1, x2=rect.x2 + margin + 20, y2=rect.y2)


def test_values_pass_pdfsig_qpdf_and_render_inside_their_boxes(served: Runtime, tmp_path: Path) -> None:
    runtime = served
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
    signed = person_then_org(runtime, person, org)
    completed = signing_service.complete_document(runtime=runtime, data=signed)
    for name, data in (("signed", signed), ("completed", completed)):
        pdf = tmp_path / f"{name}.pdf"
        pdf.write_bytes(data)
        assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, timeout=120).returncode == 0
        verdict = pdfsig_trusting(pdf, root, tmp_path)
        assert verdict.count("Signature is Valid.") == 2, verdict
        assert verdict.count("Certificate is Trusted.") == 2, verdict
        assert "not signed" not in verdict, verdict  # value widgets belong to the signed fields

    pdf = tmp_path / "completed.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    first, second = (Image.open(p).convert("RGB") for p in sorted(tmp_path.glob("page-*.png")))
    text, when, ticked, unticked = PERSON_VALUES
    assert _dark(first, text.rect) > 150  # 14 Chinese characters drawn in the box
    assert _dark(first, _outside(text.rect)) == 0  # and nothing spills out of it
    assert _dark(first, when.rect) > 60
    # Both checkboxes draw their square; only the ticked one has a check mark inside it.
    assert _dark(first, unticked.rect) > 20
    assert _dark(first, ticked.rect, inset=4) > 2 * _dark(first, unticked.rect, inset=4) + 5
    long_text, org_date = ORG_VALUES
    assert _dark(second, long_text.rect) > 150  # wrapped over several lines inside a narrow box
    assert _dark(second, _outside(long_text.rect)) == 0
    assert _dark(second, org_date.rect) > 60
