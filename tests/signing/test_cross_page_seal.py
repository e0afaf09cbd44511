"""The cross-page seal (骑缝章): strips of the seal along every page's right edge, in one signature."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from qianshu.core.runtime import Runtime
from qianshu.signing import service as signing_service
from qianshu.signing.cross_page import slice_boxes, slice_images
from qianshu.signing.errors import PlacementInvalid
from qianshu.signing.schemas import Rect, SealAppearance, TextAppearance
from tests.signing.conftest import MakeSigner, Signer

SEAL_RECT = Rect(x1=380, y1=120, x2=500, y2=240)  # 120 pt seal on the last page


def _pages(count: int) -> bytes:
    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    for i in range(count):
        doc.drawString(72, 760, f"Page {i + 1} of {count}")
        doc.showPage()
    doc.save()
    return out.getvalue()


def _sign(runtime: Runtime, signer: Signer, data: bytes, field: str, page: int, **kwargs: Any) -> bytes:
    return signing_service.sign_pdf(
        runtime=runtime,
        data=data,
        key_label=signer.cert.key_label,
        cert_der=signer.cert.der,
        chain_der=signer.chain,
        field_name=field,
        page=page,
        **kwargs,
    )


def test_slices_are_equal_strips_flush_with_each_right_edge(runtime: Runtime) -> None:
    boxes = slice_boxes([(0, 0, 595, 842), (0, 0, 612, 792), (0, 0, 595, 842)], 120)
    assert [round(b[2] - b[0], 6) for b in boxes] == [40, 40, 40]
    assert [b[2] for b in boxes] == [595, 612, 595]
    assert [(b[1] + b[3]) / 2 for b in boxes] == [421, 396, 421]
    strips = slice_images(signing_service.render_seal(runtime=runtime, org_name="示例科技有限公司"), 3)
    assert len({s.size for s in strips}) == 1


def test_slices_refuse_one_page_and_too_many_pages() -> None:
    with pytest.raises(PlacementInvalid):
        slice_boxes([(0, 0, 595, 842)], 120)
    with pytest.raises(PlacementInvalid):
        slice_boxes([(0, 0, 595, 842)] * 80, 120)


def two_signatures(runtime: Runtime, person: Signer, org: Signer, pages: int) -> bytes:
    seal = signing_service.render_seal(runtime=runtime, org_name="示例科技有限公司")
    text = TextAppearance()
    data = _sign(runtime, person, _pages(pages), "Person", 0, appearance=text, rect=Rect(x1=60, y1=60, x2=260, y2=130))
    cross = SealAppearance(image_png=seal, cross_page=True)
    return _sign(runtime, org, data, "Org", pages - 1, appearance=cross, rect=SEAL_RECT)


def test_cross_page_seal_is_part_of_the_signature_and_earlier_signatures_stay_valid(
    runtime: Runtime, make_signer: MakeSigner
) -> None:
    data = two_signatures(runtime, make_signer("person", "张三"), make_signer("org", "示例科技有限公司"), 3)
    roots = signing_service.trust_roots(runtime=runtime)
    report = signing_service.validate_pdf(data, trust_roots=roots)
    assert report.ok, report
    first, second = report.signatures
    assert first.ok and first.modification_level == "form_filling" and first.modifications_permitted
    assert second.ok and second.covers_whole_file and not second.modified_after
    completed = signing_service.complete_document(runtime=runtime, data=data)
    assert signing_service.validate_pdf(completed, trust_roots=roots).ok
    reader = PdfFileReader(io.BytesIO(completed))
    fields = {str(f.get_object()["/T"]): f.get_object() for f in reader.root["/AcroForm"]["/Fields"]}
    assert len(fields["Org"]["/Kids"]) == 1 + 3  # the seal itself and one strip per page
    for i in range(3):
        annots = [a.get_object() for a in reader.root["/Pages"]["/Kids"][i].get_object()["/Annots"]]
        assert any("/AP" in a and abs(float(a["/Rect"][2]) - A4[0]) < 0.01 for a in annots)


def test_cross_page_seal_on_a_one_page_document_is_refused(runtime: Runtime, make_signer: MakeSigner) -> None:
    org = make_signer("org", "示例科技有限公司")
    seal = signing_service.render_seal(runtime=runtime, org_name="示例科技有限公司")
    with pytest.raises(PlacementInvalid):
        _sign(
            runtime,
            org,
            _pages(1),
            "Org",
            0,
            appearance=SealAppearance(image_png=seal, cross_page=True),
            rect=SEAL_RECT,
        )
