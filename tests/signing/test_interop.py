"""Our signed PDFs checked by tools we did not write: poppler's pdfsig and pdftoppm, and qpdf.

pdfsig asks the OCSP responder named in each certificate, so the platform is served for real on a
loopback port (the real clock: NSS judges OCSP freshness by wall time).
"""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.signing import service as signing_service
from qianshu.signing.contract_pdf import ContractParty, demo_contract_pdf
from qianshu.signing.schemas import PadesLevel, Rect, SealAppearance, TextAppearance
from tests.signing.conftest import USCC
from tests.support.live import base_url_of, pdfsig_trusting

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "pdftoppm", "qpdf", "certutil", "openssl")),
    reason="poppler-utils, qpdf, libnss3-tools and openssl are needed",
)
DPI = 100
PARTIES = (
    ContractParty("甲方", "委托方", "张三", "身份证件号码：3101**********1234", "上海市浦东新区"),
    ContractParty("乙方", "服务方", "示例科技有限公司", f"统一社会信用代码：{USCC}", "上海市徐汇区"),
)


@pytest.fixture
def settings_overrides(loopback_socket: socket.socket) -> dict[str, Any]:
    return {"public_base_url": base_url_of(loopback_socket)}


def _render(pdf: Path, page: int, out: Path) -> Image.Image:
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(DPI),
            "-png",
            "-f",
            str(page + 1),
            "-l",
            str(page + 1),
            "-singlefile",
            str(pdf),
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return Image.open(out.with_suffix(".png")).convert("RGB")


def _region(img: Image.Image, rect: Rect, page_height: float) -> Image.Image:
    scale = DPI / 72
    return img.crop(
        (
            int(rect.x1 * scale) + 3,
            int((page_height - rect.y2) * scale) + 3,
            int(rect.x2 * scale) - 3,
            int((page_height - rect.y1) * scale) - 3,
        )
    )


def _pixels(region: Image.Image) -> list[tuple[int, int, int]]:
    data = region.tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def _ink(region: Image.Image) -> int:
    return sum(1 for r, g, b in _pixels(region) if min(r, g, b) < 200)


def _red(region: Image.Image) -> int:
    return sum(1 for r, g, b in _pixels(region) if r > 170 and g < 90 and b < 90)


def test_signed_contract_passes_pdfsig_qpdf_and_renders(served: Runtime, tmp_path: Path) -> None:
    runtime = served
    with runtime.transaction() as session:
        person = pki_service.issue_person_certificate(
            session=session, clock=runtime.clock, subject_id=new_id("usr"), name="张三"
        )
        org = pki_service.issue_org_certificate(
            session=session,
            clock=runtime.clock,
            subject_id=new_id("org"),
            org_name="示例科技有限公司",
            uscc=USCC,
        )
        chain = pki_service.ca_chain(session=session)
        root_pem = pki_service.ca_certificate(session=session, kind="root").pem
        untrusted_pem = "".join(
            pki_service.ca_certificate(session=session, kind=kind).pem for kind in ("tsa", "issuing")
        )
    contract, (area_a, area_b) = demo_contract_pdf(font_path=runtime.settings.reportlab_cjk_font, parties=PARTIES)
    seal = signing_service.render_seal(runtime=runtime, org_name="示例科技有限公司")
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=contract,
        key_label=person.key_label,
        cert_der=person.der,
        chain_der=chain,
        field_name="Person",
        appearance=TextAppearance(),
        page=area_a.page,
        rect=area_a.rect,
    )
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=signed,
        key_label=org.key_label,
        cert_der=org.der,
        chain_der=chain,
        field_name="Org",
        appearance=SealAppearance(image_png=seal),
        page=area_b.page,
        rect=area_b.rect,
    )
    completed = signing_service.complete_document(runtime=runtime, data=signed)
    (tmp_path / "unsigned.pdf").write_bytes(contract)
    (tmp_path / "signed.pdf").write_bytes(completed)
    (tmp_path / "root.pem").write_text(root_pem)

    # poppler pdfsig with an NSS database that trusts our root
    out = pdfsig_trusting(tmp_path / "signed.pdf", root_pem, tmp_path)
    assert out.count("Signature is Valid.") == 2, out
    assert out.count("Certificate is Trusted.") == 2, out
    assert "Signer Certificate Common Name: 张三" in out and "示例科技有限公司" in out
    assert "Total document signed" in out  # the document time-stamp covers everything

    # pdfsig leaves the document time-stamp unverified; openssl checks it over the bytes it covers
    emb = PdfFileReader(io.BytesIO(completed)).embedded_timestamp_signatures[-1]
    a, b, c, d = (int(x) for x in emb.byte_range)
    (tmp_path / "covered.bin").write_bytes(completed[a : a + b] + completed[c : c + d])
    (tmp_path / "token.der").write_bytes(emb.pkcs7_content)
    (tmp_path / "untrusted.pem").write_text(untrusted_pem)
    ts_verify = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "covered.bin"),
            "-in",
            str(tmp_path / "token.der"),
            "-token_in",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "untrusted.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Verification: OK" in ts_verify.stdout, ts_verify.stdout + ts_verify.stderr

    # qpdf's structural check
    qpdf = subprocess.run(["qpdf", "--check", str(tmp_path / "signed.pdf")], capture_output=True, text=True, timeout=60)
    assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr

    # the appearances are drawn where the signature areas are, and only there
    page_height = 842  # A4
    before = _render(tmp_path / "unsigned.pdf", area_a.page, tmp_path / "before")
    after = _render(tmp_path / "signed.pdf", area_a.page, tmp_path / "after")
    assert _ink(_region(before, area_a.rect, page_height)) == 0
    assert _ink(_region(after, area_a.rect, page_height)) > 300  # the text stamp's glyphs
    assert _red(_region(before, area_b.rect, page_height)) == 0
    assert _red(_region(after, area_b.rect, page_height)) > 2000  # the red seal
    report = signing_service.validate_pdf(completed, trust_roots=signing_service.trust_roots(runtime=runtime))
    assert [s.pades_level for s in report.signatures] == [PadesLevel.B_LTA, PadesLevel.B_LTA]


def test_text_stamp_glyphs_come_from_the_embedded_cjk_font(served: Runtime, tmp_path: Path) -> None:
    """The text stamp embeds a small subset of the Noto Sans CJK face as a CID-keyed CFF font."""
    runtime = served
    with runtime.transaction() as session:
        person = pki_service.issue_person_certificate(
            session=session, clock=runtime.clock, subject_id=new_id("usr"), name="欧阳娜娜"
        )
        chain = pki_service.ca_chain(session=session)
    contract, (area, _b) = demo_contract_pdf(font_path=runtime.settings.reportlab_cjk_font, parties=PARTIES)
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=contract,
        key_label=person.key_label,
        cert_der=person.der,
        chain_der=chain,
        field_name="Person",
        appearance=TextAppearance(),
        page=area.page,
        rect=area.rect,
    )
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    if not shutil.which("pdffonts"):
        pytest.skip("pdffonts not installed")
    fonts = subprocess.run(
        ["pdffonts", "-f", "2", "-l", "2", str(path)], capture_output=True, text=True, timeout=60
    ).stdout
    assert "NotoSansCJK" in fonts and "CID Type 0C" in fonts
    assert io.BytesIO(signed).getbuffer().nbytes < len(contract) + 80_000  # subset, not the 16 MB face
