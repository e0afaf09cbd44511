"""PAdES signing, completion and validation on their own (throw-away PKI, keys in memory custody)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from qianshu.pki.errors import CertificateRevoked, SigningKeyMissing, TimestampUnavailable
from qianshu.signing import pades
from qianshu.signing.custody_signer import CustodySigner
from qianshu.signing.errors import NothingToComplete, PdfLocked, PlacementInvalid, SignatureFieldTaken
from qianshu.signing.images import prepare_handwriting_png
from qianshu.signing.schemas import HandwritingAppearance, PadesLevel, Rect, RevocationStatus, SealAppearance
from qianshu.signing.seal import render_seal_png
from qianshu.signing.validation import validate
from tests.signing.conftest import MINIMAL, NOTO_TTC, PadesKit
from tests.signing.pkitools import MemoryKeyCustody, ThrowawayPki, now_utc
from tests.signing.test_images import handwriting_png
from tests.support.corpus import corpus_file


@pytest.fixture
def minimal() -> bytes:
    return corpus_file(MINIMAL.name)


def test_signature_reaches_b_t_with_its_time_stamp(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("张三"), "Sig1")

    report = validate(signed, trust_roots=kit.roots)

    assert report.ok
    (sig,) = report.signatures
    assert sig.signer_name == "张三"
    assert sig.pades_level == PadesLevel.B_T
    assert sig.timestamp_valid is True and sig.timestamp_time is not None
    assert sig.intact and sig.signature_valid and sig.trusted
    assert sig.revocation == RevocationStatus.UNKNOWN  # no revocation data until the platform completes
    assert sig.covers_whole_file and not sig.modified_after
    assert [c.subject.split(", ")[0] for c in sig.chain] == [
        "Common Name: 张三",
        "Common Name: Throwaway Issuing CA",
        "Common Name: Throwaway Root CA",
    ]


def test_rsa_and_ecdsa_keys_both_sign(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("李四", rsa_key=True), "Rsa")
    signed = kit.sign(signed, kit.pki.person("王五"), "Ec", rect=Rect(x1=10, y1=75, x2=200, y2=140))

    report = validate(signed, trust_roots=kit.roots)

    assert [s.ok for s in report.signatures] == [True, True]
    assert [s.chain[0].subject.split(", ")[0] for s in report.signatures] == [
        "Common Name: 李四",
        "Common Name: 王五",
    ]


def test_untrusted_root_is_reported_not_trusted(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("张三"), "Sig1")
    other = ThrowawayPki(now=now_utc())

    report = validate(signed, trust_roots=[other.root.der])

    (sig,) = report.signatures
    assert sig.intact and sig.signature_valid
    assert not sig.trusted and sig.trust_problem is not None
    assert not report.ok


def test_later_signer_keeps_earlier_signature_valid(kit: PadesKit, minimal: bytes) -> None:
    first = kit.sign(minimal, kit.pki.person("张三"), "Person")
    seal = render_seal_png("示例科技有限公司", font_path=NOTO_TTC, font_index=2)
    both = kit.sign(
        first,
        kit.pki.org("示例科技有限公司", "91310000MA1FL8XQ37"),
        "Org",
        look=SealAppearance(image_png=seal),
        rect=Rect(x1=200, y1=40, x2=290, y2=130),
    )

    report = validate(both, trust_roots=kit.roots)

    person, org = report.signatures
    assert both.startswith(first)  # an incremental update: earlier bytes untouched
    assert person.ok and person.modified_after and person.modification_level == "form_filling"
    assert org.ok and org.covers_whole_file and org.signer_org == "示例科技有限公司"


def test_completion_reaches_b_lta_for_every_signer(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("张三"), "Person")
    signed = kit.sign(signed, kit.pki.person("李四"), "Second", rect=Rect(x1=10, y1=75, x2=200, y2=140))

    completed = kit.complete(signed)
    report = validate(completed, trust_roots=kit.roots)

    assert report.ok
    assert [s.pades_level for s in report.signatures] == [PadesLevel.B_LTA, PadesLevel.B_LTA]
    assert [s.revocation for s in report.signatures] == [RevocationStatus.GOOD, RevocationStatus.GOOD]
    assert report.signatures[1].modification_level == "lta_updates"
    (doc_ts,) = report.document_timestamps
    assert doc_ts.ok and doc_ts.covers_whole_file


def test_dss_without_document_time_stamp_is_b_lt(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("张三"), "Person")
    emb = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(kit.pki.root.der)],
        other_certs=[asn1_x509.Certificate.load(d) for d in kit.pki.chain_der],
        crls=kit.pki.crls(),
        allow_fetching=False,
        revocation_mode="hard-fail",
        retroactive_revinfo=True,
    )
    with_dss = add_validation_info(emb, context).getvalue()

    (sig,) = validate(with_dss, trust_roots=kit.roots).signatures

    assert sig.pades_level == PadesLevel.B_LT and sig.revocation == RevocationStatus.GOOD
    assert sig.ok and sig.modification_level == "lta_updates"


def test_tampered_byte_breaks_integrity(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("张三"), "Sig1")
    tampered = signed.replace(b"(Hello World)", b"(Jello World)", 1)
    assert tampered != signed

    report = validate(tampered, trust_roots=kit.roots)

    (sig,) = report.signatures
    assert not sig.intact and not sig.ok and not report.ok
    assert any("altered" in p for p in sig.problems)


def test_appended_update_changing_the_page_is_detected(kit: PadesKit, minimal: bytes) -> None:
    signed = kit.sign(minimal, kit.pki.person("张三"), "Sig1")
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    overlay = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 18 Tf 0 60 Td (PAID IN FULL) Tj ET"))
    writer.add_stream_to_page(0, overlay)  # type: ignore[no-untyped-call]  # pyHanko: untyped
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # pyHanko: untyped

    report = validate(out.getvalue(), trust_roots=kit.roots)

    (sig,) = report.signatures
    assert sig.intact and sig.signature_valid  # the signed revision itself is untouched
    assert sig.modified_after and sig.modification_level == "other"
    assert not sig.modifications_permitted and not sig.ok


def test_existing_signatures_of_others_stay_valid(kit: PadesKit) -> None:
    upload = corpus_file("signed_two_sigs_incremental.pdf")
    before = validate(upload, trust_roots=kit.roots)
    assert [(s.intact, s.signature_valid) for s in before.signatures] == [(True, True), (True, True)]

    signed = kit.sign(upload, kit.pki.person("张三"), "Ours", rect=Rect(x1=10, y1=10, x2=150, y2=60))
    completed = kit.complete(signed)
    after = validate(completed, trust_roots=kit.roots)

    theirs, ours = after.signatures[:2], after.signatures[2]
    for sig in theirs:
        assert sig.intact and sig.signature_valid and sig.modifications_permitted
        assert not sig.trusted  # pyHanko's test CA is not our trust anchor
    assert ours.ok and ours.pades_level == PadesLevel.B_LTA


def test_handwriting_appearance_signs(kit: PadesKit, minimal: bytes) -> None:
    look = HandwritingAppearance(image_png=prepare_handwriting_png(handwriting_png()))
    signed = kit.sign(minimal, kit.pki.person("张三"), "Hand", look=look)
    assert validate(signed, trust_roots=kit.roots).ok


def test_custody_signs_once_and_tsa_is_asked_once(kit: PadesKit, minimal: bytes) -> None:
    class CountingStamper(TimeStamper):
        def __init__(self, inner: TimeStamper) -> None:
            super().__init__()  # type: ignore[no-untyped-call]  # pyHanko: untyped
            self.inner, self.calls = inner, 0

        async def async_timestamp(self, message_digest: bytes, md_algorithm: str):  # type: ignore[no-untyped-def]
            self.calls += 1
            return await self.inner.async_timestamp(message_digest, md_algorithm)

    stamper = CountingStamper(kit.pki.timestamper())
    kit.sign(minimal, kit.pki.person("张三"), "Sig1", timestamper=stamper)

    assert kit.custody.sign_calls == 1  # bytes_reserved given: no dry-run CMS
    assert stamper.calls == 1


def test_too_small_reservation_is_retried(kit: PadesKit, minimal: bytes) -> None:
    person = kit.pki.person("张三")
    signer = kit.signer(person)
    style = pades_style(kit)

    signed = pades.sign(
        minimal,
        signer=signer,
        timestamper=kit.pki.timestamper(),
        style=style,
        field_name="S",
        page=0,
        rect=Rect(x1=10, y1=10, x2=200, y2=70),
        reason=None,
        location=None,
        bytes_reserved=2048,
    )

    assert validate(signed, trust_roots=kit.roots).ok


def pades_style(kit: PadesKit):  # type: ignore[no-untyped-def]
    from qianshu.signing.appearance import stamp_style
    from qianshu.signing.schemas import TextAppearance

    return stamp_style(TextAppearance(), text="签署人：张三", cjk_font=kit.font)


def test_tsa_failure_raises_and_returns_nothing(kit: PadesKit, minimal: bytes) -> None:
    class DownStamper(TimeStamper):
        async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> object:
            raise TimestampRequestError("connection refused")

    with pytest.raises(TimestampUnavailable):
        kit.sign(minimal, kit.pki.person("张三"), "Sig1", timestamper=DownStamper())  # type: ignore[no-untyped-call]


def test_missing_or_wrong_custody_key_is_refused(kit: PadesKit) -> None:
    person = kit.pki.person("张三")
    cert = asn1_x509.Certificate.load(person.der)
    custody = MemoryKeyCustody()
    with pytest.raises(SigningKeyMissing):
        CustodySigner(custody=custody, key_label="absent", signing_cert=cert, other_certs=[])
    custody.add("other", kit.pki.person("李四").key)
    with pytest.raises(SigningKeyMissing):
        CustodySigner(custody=custody, key_label="other", signing_cert=cert, other_certs=[])


def test_field_and_placement_errors(kit: PadesKit, minimal: bytes) -> None:
    person = kit.pki.person("张三")
    signed = kit.sign(minimal, person, "Sig1")
    with pytest.raises(SignatureFieldTaken):
        kit.sign(signed, person, "Sig1")
    with pytest.raises(PlacementInvalid, match="Page 3"):
        kit.sign(minimal, person, "Sig2", page=2)
    with pytest.raises(PlacementInvalid, match="outside"):
        kit.sign(minimal, person, "Sig2", rect=Rect(x1=200, y1=100, x2=400, y2=200))  # page is 300 × 144


def test_certification_forbidding_changes_locks_the_document(kit: PadesKit, minimal: bytes) -> None:
    author = kit.pki.person("作者")
    meta = signers.PdfSignatureMetadata(field_name="Author", certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES)
    writer = IncrementalPdfFileWriter(io.BytesIO(minimal))
    certified = signers.PdfSigner(meta, signer=kit.signer(author)).sign_pdf(writer).getvalue()

    with pytest.raises(PdfLocked):
        kit.sign(certified, kit.pki.person("张三"), "Sig1")


def test_signer_revoked_after_signing_is_good_at_signing_time(cjk_font, minimal: bytes) -> None:  # type: ignore[no-untyped-def]
    pki = ThrowawayPki(now=now_utc())
    kit = PadesKit(pki=pki, custody=MemoryKeyCustody(), font=cjk_font)
    person = pki.person("张三")
    signed = kit.sign(minimal, person, "Sig1")
    pki.revoke(person.cert)
    later = now_utc() + timedelta(hours=2)  # the CRL dates the revocation 30 minutes before this: after signing
    completed = pades.complete(
        signed,
        timestamper=pki.timestamper(),
        trust_roots=[asn1_x509.Certificate.load(pki.root.der)],
        other_certs=[asn1_x509.Certificate.load(d) for d in pki.chain_der],
        crls=[pki.crl(pki.root, at=later), pki.crl(pki.issuing, at=later)],
        at=now_utc(),
    )

    (sig,) = validate(completed, trust_roots=[pki.root.der]).signatures
    assert sig.revocation == RevocationStatus.GOOD and sig.pades_level == PadesLevel.B_LTA


def test_signer_revoked_before_signing_cannot_be_completed(cjk_font, minimal: bytes) -> None:  # type: ignore[no-untyped-def]
    pki = ThrowawayPki(now=now_utc())
    kit = PadesKit(pki=pki, custody=MemoryKeyCustody(), font=cjk_font)
    person = pki.person("张三")
    signed = kit.sign(minimal, person, "Sig1")
    pki.revoke(person.cert)  # the CRL dates it 30 minutes ago: before the time-stamp

    with pytest.raises(CertificateRevoked):
        kit.complete(signed)


def test_completing_an_unsigned_document_is_refused(kit: PadesKit, minimal: bytes) -> None:
    with pytest.raises(NothingToComplete):
        kit.complete(minimal)


def test_unsigned_document_validates_as_not_ok(kit: PadesKit, minimal: bytes) -> None:
    report = validate(minimal, trust_roots=kit.roots)
    assert report.signatures == [] and not report.ok


def test_sign_runs_inside_an_event_loop(kit: PadesKit, minimal: bytes) -> None:
    async def inside() -> bytes:
        return kit.sign(minimal, kit.pki.person("张三"), "Sig1")

    assert validate(asyncio.run(inside()), trust_roots=kit.roots).ok
