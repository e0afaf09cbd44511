"""Filled-in values (text, dates, checkboxes) drawn as widgets of the signer's own signature."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic import ValidationError
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from qianshu.core.runtime import Runtime
from qianshu.signing import service as signing_service
from qianshu.signing.errors import PlacementInvalid
from qianshu.signing.field_values import wrap_text
from qianshu.signing.schemas import FieldValue, Rect, SealAppearance, TextAppearance
from tests.signing.conftest import MakeSigner, Signer

PERSON_VALUES = [
    FieldValue(kind="text", page=0, rect=Rect(x1=72, y1=600, x2=320, y2=624), value="上海市浦东新区世纪大道100号"),
    FieldValue(kind="date", page=0, rect=Rect(x1=72, y1=560, x2=200, y2=580), value="2026-03-15"),
    FieldValue(kind="checkbox", page=0, rect=Rect(x1=72, y1=520, x2=90, y2=538), value="true"),
    FieldValue(kind="checkbox", page=0, rect=Rect(x1=100, y1=520, x2=118, y2=538), value="false"),
]
ORG_VALUES = [
    FieldValue(kind="text", page=1, rect=Rect(x1=72, y1=600, x2=200, y2=660), value="经办人：赵六，联系电话见附件二。"),
    FieldValue(kind="date", page=1, rect=Rect(x1=72, y1=560, x2=200, y2=580), value="2026-03-16"),
]


SIG_RECT = Rect(x1=60, y1=60, x2=260, y2=130)


def pages(count: int) -> bytes:
    """Return a plain A4 PDF of `count` pages."""
    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    for i in range(count):
        doc.drawString(72, 760, f"Page {i + 1} of {count}")
        doc.showPage()
    doc.save()
    return out.getvalue()


def sign(runtime: Runtime, signer: Signer, data: bytes, field: str, page: int, rect: Rect, **kwargs: Any) -> bytes:
    """Sign `data` through the service with `signer`'s custody key."""
    return signing_service.sign_pdf(
        runtime=runtime,
        data=data,
        key_label=signer.cert.key_label,
        cert_der=signer.cert.der,
        chain_der=signer.chain,
        field_name=field,
        page=page,
        rect=rect,
        **kwargs,
    )


def person_then_org(runtime: Runtime, person: Signer, org: Signer) -> bytes:
    """A person fills and signs page 1, then an organisation fills page 2 and seals across both pages."""
    first = sign(
        runtime,
        person,
        pages(2),
        "Person",
        0,
        Rect(x1=300, y1=60, x2=520, y2=130),
        appearance=TextAppearance(),
        values=PERSON_VALUES,
    )
    seal = signing_service.render_seal(runtime=runtime, org_name="示例科技有限公司")
    return sign(
        runtime,
        org,
        first,
        "Org",
        1,
        Rect(x1=380, y1=120, x2=500, y2=240),
        appearance=SealAppearance(image_png=seal, cross_page=True),
        values=ORG_VALUES,
    )


def _widgets(data: bytes, field: str) -> list[Any]:
    reader = PdfFileReader(io.BytesIO(data))
    fields = {str(f.get_object()["/T"]): f.get_object() for f in reader.root["/AcroForm"]["/Fields"]}
    return [kid.get_object() for kid in fields[field]["/Kids"]]


def test_values_are_widgets_of_the_signature_and_every_signature_stays_valid(
    runtime: Runtime, make_signer: MakeSigner
) -> None:
    data = person_then_org(runtime, make_signer("person", "张三"), make_signer("org", "示例科技有限公司"))
    roots = signing_service.trust_roots(runtime=runtime)
    report = signing_service.validate_pdf(data, trust_roots=roots)
    assert report.ok, report
    first, second = report.signatures
    assert first.ok and first.modification_level == "form_filling" and first.modifications_permitted
    assert second.ok and second.covers_whole_file and not second.modified_after
    # The signature widget plus one per value; the organisation's also has one strip per page.
    assert len(_widgets(data, "Person")) == 1 + len(PERSON_VALUES)
    assert len(_widgets(data, "Org")) == 1 + 2 + len(ORG_VALUES)
    rects = {tuple(round(float(v)) for v in w["/Rect"]) for w in _widgets(data, "Person")}
    assert {(72, 600, 320, 624), (72, 560, 200, 580), (72, 520, 90, 538)} <= rects
    assert all("/AP" in w and "/Parent" not in w for w in _widgets(data, "Person"))

    completed = signing_service.complete_document(runtime=runtime, data=data)
    final = signing_service.validate_pdf(completed, trust_roots=roots)
    assert final.ok and all(s.ok for s in final.signatures), final
    assert [s.pades_level for s in final.signatures] == ["B-LTA", "B-LTA"]


def test_text_values_embed_the_cjk_font_with_their_characters(runtime: Runtime, make_signer: MakeSigner) -> None:
    data = sign(
        runtime,
        make_signer("person", "张三"),
        pages(1),
        "Person",
        0,
        Rect(x1=300, y1=60, x2=520, y2=130),
        appearance=TextAppearance(),
        values=PERSON_VALUES[:1],
    )
    (value,) = [w for w in _widgets(data, "Person") if round(float(w["/Rect"][1])) == 600]
    stream = value["/AP"]["/N"]
    fonts = stream["/Resources"]["/Font"]
    (font,) = [f.get_object() for f in fonts.values()]
    assert font["/Subtype"] == "/Type0"
    descendant = font["/DescendantFonts"][0].get_object()
    assert "/FontFile3" in descendant["/FontDescriptor"]  # embedded, so no viewer shows tofu
    assert b"Tj" in stream.data or b"TJ" in stream.data


def test_a_value_off_its_page_is_refused_and_nothing_is_signed(runtime: Runtime, make_signer: MakeSigner) -> None:
    person = make_signer("person", "张三")
    off_page = FieldValue(kind="text", page=0, rect=Rect(x1=500, y1=800, x2=700, y2=830), value="越界")
    with pytest.raises(PlacementInvalid):
        sign(
            runtime,
            person,
            pages(1),
            "P",
            0,
            Rect(x1=60, y1=60, x2=260, y2=130),
            appearance=TextAppearance(),
            values=[off_page],
        )
    missing_page = FieldValue(kind="date", page=3, rect=Rect(x1=72, y1=72, x2=200, y2=92), value="2026-01-01")
    with pytest.raises(PlacementInvalid):
        sign(
            runtime,
            person,
            pages(1),
            "P",
            0,
            Rect(x1=60, y1=60, x2=260, y2=130),
            appearance=TextAppearance(),
            values=[missing_page],
        )


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("date", "2026-3-1"),
        ("date", "20260301"),
        ("date", "2026-02-30"),
        ("checkbox", "yes"),
        ("text", "a\x07b"),
        ("text", ""),
    ],
)
def test_bad_values_are_refused(kind: str, value: str) -> None:
    with pytest.raises(ValidationError):
        FieldValue(kind=kind, page=0, rect=Rect(x1=10, y1=10, x2=100, y2=30), value=value)  # type: ignore[arg-type]


def test_long_text_wraps_at_spaces_or_between_characters() -> None:
    def measure(line: str) -> float:
        return float(len(line))

    assert wrap_text("甲方乙方丙方丁方", 3, measure) == ["甲方乙", "方丙方", "丁方"]
    assert wrap_text("pay within thirty days", 12, measure) == ["pay within", "thirty days"]
    assert wrap_text("", 5, measure) == [""]


def test_a_later_change_to_a_signed_value_is_detected(runtime: Runtime, make_signer: MakeSigner) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    data = sign(
        runtime,
        make_signer("person", "张三"),
        pages(1),
        "Person",
        0,
        SIG_RECT,
        appearance=TextAppearance(),
        values=PERSON_VALUES,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    fields = writer.root["/AcroForm"]["/Fields"]
    field = next(f.get_object() for f in fields if f.get_object()["/T"] == "Person")
    (ref,) = [k for k in field["/Kids"] if round(float(k.get_object()["/Rect"][1])) == 560]  # the date
    widget = ref.get_object()
    forged = generic.StreamObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): widget["/AP"]["/N"]["/BBox"],
        },
        stream_data=b"0 0 0 rg 0 0 20 10 re f",
    )
    appearance = {generic.pdf_name("/N"): writer.add_object(forged)}
    widget["/AP"] = generic.DictionaryObject(appearance)  # type: ignore[no-untyped-call]  # pyHanko: untyped
    writer.update_container(widget)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # pyHanko: untyped
    report = signing_service.validate_pdf(out.getvalue(), trust_roots=signing_service.trust_roots(runtime=runtime))
    (signature,) = report.signatures
    assert signature.intact and signature.modified_after
    assert not signature.ok and not signature.modifications_permitted
