"""Bad PDFs are refused with a clear error: the cheap in-process checks and the guarded upload gate."""

from __future__ import annotations

import pytest

from qianshu.core.errors import QianshuError
from qianshu.signing import errors
from qianshu.signing.inspection import inspect_pdf, open_pdf
from qianshu.signing.service import check_pdf_acceptable
from tests.signing.conftest import MINIMAL
from tests.support.corpus import corpus_file

LIMIT = 50 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("truncated_no_startxref_184b.pdf", errors.PdfCorrupt),
        ("xref_no_trailer.pdf", errors.PdfCorrupt),
        ("enc_user_aes128.pdf", errors.PdfEncrypted),
        ("enc_owner_only_rc4_40.pdf", errors.PdfEncrypted),  # opens without a password, still refused
        ("actions_openaction_autoprint_js.pdf", errors.PdfActiveContent),
        ("xfa_simple_pdfium.pdf", errors.PdfActiveContent),
        ("hybrid_xref_minimal.pdf", errors.PdfUnsupportedStructure),
    ],
)
def test_cheap_checks_refuse_at_sign_time(name: str, error: type[QianshuError]) -> None:
    with pytest.raises(error):
        open_pdf(corpus_file(name))


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("actions_launch.pdf", errors.PdfActiveContent),  # a /Launch action on a link annotation
        ("actions_launch_js_gov_form_sf424.pdf", errors.PdfActiveContent),
        ("cyclic_page_tree.pdf", errors.PdfCorrupt),
        ("signed_two_sigs_bogus_cms.pdf", errors.PdfExistingSignatureInvalid),
        ("signed_tail_uncovered.pdf", errors.PdfExistingSignatureInvalid),  # bytes after the signed range
        ("signed_one_sig_digest_mismatch.pdf", errors.PdfExistingSignatureInvalid),  # changed after signing
        ("cyclic_struct_tree_pdf20.pdf", errors.PdfCorrupt),  # later changes could never be analysed
    ],
)
def test_deep_inspection_finds_what_the_catalog_hides(name: str, error: type[QianshuError]) -> None:
    with pytest.raises(error):
        inspect_pdf(corpus_file(name))


def test_readable_pdfs_pass_and_report_their_pages() -> None:
    assert inspect_pdf(corpus_file(MINIMAL.name)) == 1
    assert inspect_pdf(corpus_file("valid_simple_pdflatex_4pages.pdf")) == 4
    # strict parsing complains about a generation-65536 free entry; the lenient retry reads it
    assert inspect_pdf(corpus_file("cjk_chinese_tables_prospectus.pdf")) == 1


def test_validation_reads_documents_it_would_not_sign() -> None:
    open_pdf(corpus_file("certified_usage_rights_ur3_form_js.pdf"), for_signing=False)
    with pytest.raises(errors.PdfActiveContent):
        open_pdf(corpus_file("certified_usage_rights_ur3_form_js.pdf"))


def test_upload_gate_refuses_each_kind_of_bad_file() -> None:
    with pytest.raises(errors.PdfNotPdf):
        check_pdf_acceptable(b"PK\x03\x04 a zip file, not a PDF", LIMIT)
    with pytest.raises(errors.PdfTooLarge) as too_large:
        check_pdf_acceptable(corpus_file(MINIMAL.name), 100)
    assert too_large.value.status == 413
    with pytest.raises(errors.PdfEncrypted):
        check_pdf_acceptable(corpus_file("enc_user_rc4_128.pdf"), LIMIT)
    with pytest.raises(errors.PdfActiveContent):
        check_pdf_acceptable(corpus_file("actions_launch.pdf"), LIMIT)
    with pytest.raises(errors.PdfCorrupt) as corrupt:
        check_pdf_acceptable(corpus_file("truncated_chinese_tables_50pct.pdf"), LIMIT)
    assert corrupt.value.slug == "pdf-corrupt" and corrupt.value.detail_en
    check_pdf_acceptable(corpus_file(MINIMAL.name), LIMIT)


def test_upload_gate_stops_inspections_that_exceed_their_limits() -> None:
    data = corpus_file("valid_simple_pdflatex_4pages.pdf")
    with pytest.raises(errors.PdfTooComplex, match="within"):
        check_pdf_acceptable(data, LIMIT, timeout_seconds=0.01)
    with pytest.raises(errors.PdfTooComplex, match="stopped"):
        check_pdf_acceptable(data, LIMIT, memory_mb=16)  # the child cannot even start under 16 MB
