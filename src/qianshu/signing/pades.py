"""PAdES signing and completion with pyHanko (ETSI EN 319 142-1), free of any runtime wiring.

`sign` appends one incremental update (ISO 32000-1 §7.5.6) holding a PAdES baseline signature
with a signature time-stamp (B-T, EN 319 142-1 §6.3 level B-T); `complete` appends the validation
data in the DSS (§5.4.2, B-LT) and a document time-stamp over it (§5.4.3, B-LTA) in one more
update. Earlier revisions are never rewritten, so earlier signatures keep verifying.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import TimestampDSSContentSettings
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError

from qianshu.pki.errors import CertificateRevoked, TimestampUnavailable
from qianshu.signing.cross_page import CrossPageSeal, slice_widgets
from qianshu.signing.custody_signer import CustodySigner
from qianshu.signing.errors import (
    CertificateUntrusted,
    NothingToComplete,
    PdfLocked,
    PlacementInvalid,
    SignatureFieldTaken,
)
from qianshu.signing.existing import check_existing_signatures, embedded_signatures
from qianshu.signing.inspection import deref, get, open_pdf, parse_guard, pdf_failure, with_lenient_retry
from qianshu.signing.schemas import Rect
from qianshu.signing.widgets import ExtraWidget, add_widgets

__all__ = [
    "complete",
    "reserved_size",
    "run_async",
    "sign",
    "signature_timestamp_time",
]

T = TypeVar("T")
OcspSource = Callable[[asn1_x509.Certificate], bytes | None]  # an OCSP response (RFC 6960) for a signer
_DIGEST = "sha256"
_CMS_OVERHEAD = 2048  # SignerInfo, signed attributes (ESS signing-certificate-v2, digest), DER framing
_TST_ALLOWANCE = 6144  # a signature time-stamp token with its TSA certificate chain (RFC 3161 §2.4.2)
_DOC_TS_RESERVED = 24 * 1024
_MAX_RESERVED = 512 * 1024


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion, also when the caller is already inside an event loop."""
    try:
        asyncio.get_running_loop()
        inside_loop = True
    except RuntimeError:
        inside_loop = False
    if not inside_loop:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def _target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=_target, name="qianshu-pades")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]  # set by _target


def reserved_size(signing_cert_der: bytes, chain_der: list[bytes], signature_size: int) -> int:
    """Return the /Contents size to reserve: hex of the CMS (ISO 32000-1 §12.8.1), rounded up to 1 KiB."""
    cms_bytes = _CMS_OVERHEAD + len(signing_cert_der) + sum(map(len, chain_der)) + signature_size + _TST_ALLOWANCE
    return -(-2 * cms_bytes // 1024) * 1024


def _check_field(reader: PdfFileReader, field_name: str) -> None:
    for name, value, _ref in enumerate_sig_fields(reader, filled_status=None):
        if name == field_name and value is not None:
            raise SignatureFieldTaken(f"签名域 {field_name} 已签署", detail_en=f"Field {field_name} is already signed")


def _media_box(page: generic.DictionaryObject) -> tuple[float, float, float, float] | None:
    node: generic.PdfObject | None = page
    for _ in range(32):  # MediaBox is inheritable (ISO 32000-1 §7.7.3.4)
        if not isinstance(node, generic.DictionaryObject):
            return None
        box = get(node, "/MediaBox")
        if isinstance(box, generic.ArrayObject) and len(box) == 4:
            x1, y1, x2, y2 = (float(v) for v in box)
            return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
        node = get(node, "/Parent")
    return None


def _check_placement(writer: IncrementalPdfFileWriter, page: int, rect: Rect) -> None:
    try:
        page_ref, _resources = writer.find_page_for_modification(page)  # type: ignore[no-untyped-call]  # untyped
    except (PdfError, KeyError, AssertionError) as exc:
        raise PlacementInvalid(f"页码 {page + 1} 超出文档范围", detail_en=f"Page {page + 1} does not exist") from exc
    page_obj = deref(page_ref)
    box = _media_box(page_obj) if isinstance(page_obj, generic.DictionaryObject) else None
    if box is None:
        raise PlacementInvalid("页面缺少有效的 MediaBox", detail_en="The page has no usable MediaBox")
    x1, y1, x2, y2 = box
    if rect.x1 < x1 or rect.y1 < y1 or rect.x2 > x2 or rect.y2 > y2:
        raise PlacementInvalid("签名位置超出页面范围", detail_en="The signature rectangle lies outside the page")


@dataclass(frozen=True)
class _Request:
    signer: CustodySigner
    timestamper: TimeStamper
    style: BaseStampStyle
    field_name: str
    page: int
    rect: Rect
    reason: str | None
    location: str | None
    cross_page: CrossPageSeal | None = None
    extra_widgets: tuple[ExtraWidget, ...] = ()

    @property
    def has_extras(self) -> bool:
        return self.cross_page is not None or bool(self.extra_widgets)


async def _sign_with_extras(
    pdf_signer: PdfSigner, writer: IncrementalPdfFileWriter, request: _Request, reserved: int
) -> io.BytesIO:
    """Sign like `PdfSigner.async_sign_pdf`, adding the extra widgets before the digest is taken."""
    session = pdf_signer.init_signing_session(writer)
    validation_info = await session.perform_presign_validation(writer)
    tbs = session.prepare_tbs_document(validation_info=validation_info, bytes_reserved=reserved)
    strips = slice_widgets(writer, request.cross_page) if request.cross_page is not None else []
    add_widgets(writer, field_name=request.field_name, widgets=[*strips, *request.extra_widgets])
    prepared, output = tbs.digest_tbs_document(in_place=True)
    post = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(
            signing_time=session.system_time,
            adobe_revinfo_attr=None if validation_info is None else validation_info.adobe_revinfo_attr,
            cades_signed_attrs=pdf_signer.signature_meta.cades_signed_attr_spec,
        ),
    )
    await post.post_signature_processing(output)
    assert isinstance(output, io.BytesIO)  # in place over the reader's BytesIO
    return output


def _sign_once(data: bytes, request: _Request, *, strict: bool, reserved: int) -> bytes:
    reader = open_pdf(data, strict=strict)
    with parse_guard():
        check_existing_signatures(reader)
        _check_field(reader, request.field_name)
        writer = IncrementalPdfFileWriter.from_reader(reader)
        _check_placement(writer, request.page, request.rect)
    meta = PdfSignatureMetadata(
        field_name=request.field_name,
        md_algorithm=_DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        reason=request.reason,
        location=request.location,
    )
    pdf_signer = PdfSigner(
        meta,
        signer=request.signer,
        timestamper=request.timestamper,
        stamp_style=request.style,
        new_field_spec=SigFieldSpec(
            sig_field_name=request.field_name,
            on_page=request.page,
            box=request.rect.as_box(),
            combine_annotation=not request.has_extras,  # extra widgets become further /Kids of the field
        ),
    )
    try:
        # In place: the update is appended to the reader's own buffer (one copy of the document, not
        # three), which matters for 50 MB uploads.
        if request.has_extras:
            out = run_async(_sign_with_extras(pdf_signer, writer, request, reserved))
        else:
            out = run_async(pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved, in_place=True))
    except TimestampRequestError as exc:
        raise TimestampUnavailable(
            "时间戳服务无响应或拒绝请求，文档未签署", detail_en="The TSA failed; the document was not signed"
        ) from exc
    except SigningError as exc:
        message = str(exc)
        if "payload larger than expected" in message and reserved < _MAX_RESERVED:
            return _sign_once(data, request, strict=strict, reserved=reserved * 4)
        if "forbids" in message or "DocMDP" in message or "certif" in message.lower():
            raise PdfLocked() from exc
        raise PdfLocked(
            "PDF 当前状态不允许添加签名", detail_en=f"The PDF cannot take a signature: {message}"[:300]
        ) from exc
    except PdfError as exc:
        raise pdf_failure(exc) from exc
    signed: bytes = out.getvalue()  # BytesIO hands over its buffer without copying
    return signed


def sign(
    data: bytes,
    *,
    signer: CustodySigner,
    timestamper: TimeStamper,
    style: BaseStampStyle,
    field_name: str,
    page: int,
    rect: Rect,
    reason: str | None,
    location: str | None,
    bytes_reserved: int,
    cross_page: CrossPageSeal | None = None,
    extra_widgets: tuple[ExtraWidget, ...] = (),
) -> bytes:
    """Return `data` with one more incremental update holding a visible PAdES B-T signature.

    `bytes_reserved` fixes the /Contents size up front, so pyHanko builds the CMS once instead of
    a dry run first; should the CMS not fit, signing is redone with a larger reservation.
    `cross_page` adds a cross-page seal (骑缝章) to the same signature (see `cross_page`), and
    `extra_widgets` further widgets of it, such as the values the signer filled (see `widgets`).
    """
    request = _Request(
        signer, timestamper, style, field_name, page, rect, reason, location, cross_page, tuple(extra_widgets)
    )
    return with_lenient_retry(lambda strict: _sign_once(data, request, strict=strict, reserved=bytes_reserved))


def signature_timestamp_time(emb: EmbeddedPdfSignature) -> datetime | None:
    """Return genTime of the signature's time-stamp token (RFC 3161 §2.4.2), if it has one."""
    for tst in extract_tst_data_iter(emb.signer_info, signed=False):
        gen_time: datetime = tst["encap_content_info"]["content"].parsed["gen_time"].native
        return gen_time
    return None


async def _complete(
    reader: PdfFileReader,
    *,
    timestamper: TimeStamper,
    trust_roots: list[asn1_x509.Certificate],
    other_certs: list[asn1_x509.Certificate],
    crls: list[bytes],
    ocsp_for: OcspSource,
    field_name: str | None,
    at: datetime,
) -> io.BytesIO:
    signatures = [e for e in embedded_signatures(reader) if e.sig_object_type == "/Sig"]
    if not signatures:
        raise NothingToComplete()
    our_cas = [cert.subject for cert in [*trust_roots, *other_certs]]
    ours = [e for e in signatures if any(e.signer_cert.issuer == name for name in our_cas)]
    ocsps = [response for e in ours if (response := ocsp_for(e.signer_cert)) is not None]
    writer = IncrementalPdfFileWriter.from_reader(reader)

    def context(moment: datetime | None) -> ValidationContext:
        return ValidationContext(
            trust_roots=trust_roots,
            other_certs=other_certs,
            crls=crls,
            ocsps=ocsps,
            moment=moment,
            allow_fetching=False,
            revocation_mode="hard-fail",
            retroactive_revinfo=True,
        )

    for emb in ours:  # another CA's signatures (they came with the upload) are not ours to vouch for
        # Validate each signer (and its time-stamp) as of its time-stamp (EN 319 102-1 §5.5); the
        # revocation data now current is what a later verifier needs to see (B-LT).
        vc = context(signature_timestamp_time(emb) or at)
        paths = await collect_validation_info(emb, vc)
        DocumentSecurityStore.supply_dss_in_writer(writer, None, paths=paths, validation_context=vc)
    stamper = PdfTimeStamper(timestamper, field_name=field_name)
    output = io.BytesIO()
    await stamper.async_timestamp_pdf(
        writer,
        _DIGEST,
        validation_context=context(at),
        bytes_reserved=_DOC_TS_RESERVED,
        output=output,
        dss_settings=TimestampDSSContentSettings(update_before_ts=True, include_vri=False),
    )
    return output


def complete(
    data: bytes,
    *,
    timestamper: TimeStamper,
    trust_roots: list[asn1_x509.Certificate],
    other_certs: list[asn1_x509.Certificate],
    crls: list[bytes],
    at: datetime,
    ocsp_for: OcspSource | None = None,
    field_name: str | None = None,
) -> bytes:
    """Return `data` with validation data for every signature in the DSS and a document time-stamp.

    Signatures by other CAs (they came with the upload) are left as they are: not ours to vouch for.
    """

    def attempt(strict: bool) -> bytes:
        reader = open_pdf(data, strict=strict)
        with parse_guard():
            check_existing_signatures(reader)
        try:
            out = run_async(
                _complete(
                    reader,
                    timestamper=timestamper,
                    trust_roots=trust_roots,
                    other_certs=other_certs,
                    crls=crls,
                    ocsp_for=ocsp_for or (lambda _cert: None),
                    field_name=field_name,
                    at=at,
                )
            )
        except TimestampRequestError as exc:
            raise TimestampUnavailable(
                "时间戳服务无响应或拒绝请求，文档未完成",
                detail_en="The TSA failed; the document was not completed",
            ) from exc
        except RevokedError as exc:
            raise CertificateRevoked(
                "签名时证书已被吊销", detail_en="A signer's certificate was revoked before it signed"
            ) from exc
        except (PathBuildingError, PathValidationError) as exc:
            raise CertificateUntrusted(
                "无法为签名证书收集完整的验证数据",
                detail_en=f"Validation data cannot be collected: {exc}"[:300],
            ) from exc
        except PdfError as exc:
            raise pdf_failure(exc) from exc
        completed: bytes = out.getvalue()
        return completed

    return with_lenient_retry(attempt)
