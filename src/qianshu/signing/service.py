"""The signing domain's public service: PAdES signing through key custody, completion, validation.

Other domains import this module only (`from qianshu.signing import service as signing_service`).
Keys never leave custody (`qianshu.pki`); certificates, CRLs, OCSP responses and time-stamps come
from the PKI service. All functions return new bytes and write nothing, so a refusal leaves no
half-signed document behind.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.signing import errors, pades, validation
from qianshu.signing.appearance import stamp_style, stamp_text
from qianshu.signing.cross_page import CrossPageSeal
from qianshu.signing.custody_signer import CustodySigner
from qianshu.signing.field_values import value_widgets
from qianshu.signing.fonts import CjkFont, extract_face
from qianshu.signing.images import prepare_handwriting_png
from qianshu.signing.schemas import (
    Appearance,
    FieldValue,
    Rect,
    SealAppearance,
    TextAppearance,
    ValidationReport,
)
from qianshu.signing.seal import render_seal_png

__all__ = [
    "check_pdf_acceptable",
    "cjk_font",
    "complete_document",
    "prepare_handwriting",
    "read_trust_roots",
    "render_seal",
    "sign_pdf",
    "trust_roots",
    "validate_pdf",
]

log = get_logger("qianshu.signing")

_FONT_COMPONENT = "signing.cjk_font"
_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_MAX_TEXT = 200
_MAX_VALUES = 200
_CHECK_TIMEOUT_SECONDS = 60.0
_CHECK_CPU_SECONDS = 45
_CHECK_MEMORY_MB = 2048
_REFUSALS: dict[str, type[QianshuError]] = {
    cls.slug: cls
    for cls in (
        errors.PdfNotPdf,
        errors.PdfCorrupt,
        errors.PdfEncrypted,
        errors.PdfActiveContent,
        errors.PdfUnsupportedStructure,
        errors.PdfTooComplex,
        errors.PdfExistingSignatureInvalid,
    )
}


# --- fonts, seals, handwriting --------------------------------------------------------------


def _build_font(runtime: Runtime) -> CjkFont:
    settings = runtime.settings
    target = settings.data_dir / "fonts" / f"{settings.cjk_font_ttc.stem}-{settings.cjk_font_ttc_index}.otf"
    try:
        return CjkFont(extract_face(settings.cjk_font_ttc, settings.cjk_font_ttc_index, target))
    except (OSError, IndexError) as exc:
        raise errors.CjkFontUnavailable(
            detail_en=f"Cannot load face {settings.cjk_font_ttc_index} of {settings.cjk_font_ttc}"
        ) from exc


def cjk_font(runtime: Runtime) -> CjkFont:
    """Return the runtime's CJK font for text stamps, extracting the face into the data dir once."""
    return runtime.component(_FONT_COMPONENT, _build_font)


def render_seal(*, runtime: Runtime, org_name: str, footer: str | None = "合同专用章") -> bytes:
    """Draw an organisation's round red seal as a transparent PNG (see `signing.seal`)."""
    settings = runtime.settings
    try:
        return render_seal_png(
            org_name, font_path=settings.cjk_font_ttc, font_index=settings.cjk_font_ttc_index, footer=footer
        )
    except ValueError as exc:
        raise InvalidInput("企业名称不能用于生成印章", detail_en=str(exc)) from exc
    except OSError as exc:
        raise errors.CjkFontUnavailable() from exc


def prepare_handwriting(data: bytes) -> bytes:
    """Return an uploaded handwritten signature as a cropped PNG with a transparent background."""
    return prepare_handwriting_png(data)


# --- acceptance -----------------------------------------------------------------------------


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        limit = f"{max_bytes / (1024 * 1024):.4g} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes} 字节"
        raise errors.PdfTooLarge(f"PDF 文件超过 {limit} 上限", detail_en=f"The PDF is larger than {max_bytes} bytes")


def check_pdf_acceptable(
    data: bytes,
    max_bytes: int,
    *,
    timeout_seconds: float = _CHECK_TIMEOUT_SECONDS,
    memory_mb: int = _CHECK_MEMORY_MB,
) -> None:
    """Raise a clear QianshuError unless `data` is a PDF we can sign (run at upload).

    The deep inspection (every object, the page tree, existing signatures) runs in a child process
    with CPU, memory and wall-clock limits, so a hostile file cannot hang or exhaust the server.
    """
    _check_size(data, max_bytes)
    if b"%PDF-" not in data[:1024]:
        raise errors.PdfNotPdf("文件不是 PDF 文档（缺少 %PDF 文件头）", detail_en="The file has no %PDF header")
    cpu = max(1, min(_CHECK_CPU_SECONDS, int(timeout_seconds)))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "qianshu.signing._probe", str(memory_mb), str(cpu)],
            input=data,
            capture_output=True,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise errors.PdfTooComplex(detail_en=f"Inspection did not finish within {timeout_seconds:g} s") from exc
    try:
        verdict = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        # Killed by a limit (SIGXCPU, SIGKILL) or crashed: the file asked for more than we grant.
        raise errors.PdfTooComplex(detail_en=f"Inspection stopped (exit status {proc.returncode})") from None
    if verdict.get("ok"):
        return
    cls = _REFUSALS.get(str(verdict.get("slug")), errors.PdfCorrupt)
    raise cls(str(verdict.get("detail") or cls.title), detail_en=str(verdict.get("detail_en") or cls.title_en))


# --- signing --------------------------------------------------------------------------------


def _load_cert(der: bytes, what: str) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(der)
        _ = cert.subject, cert.public_key
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{what}不是有效的 DER 证书", detail_en=f"The {what} is not a DER certificate") from exc
    return cert


def _subject_label(cert: asn1_x509.Certificate) -> str:
    native = cert.subject.native
    return str(native.get("common_name") or native.get("organization_name") or cert.subject.human_friendly)


def _sign(
    *,
    runtime: Runtime,
    session: Session,
    data: bytes,
    key_label: str,
    cert_der: bytes,
    chain_der: list[bytes],
    placement: tuple[str, int, Rect],
    appearance: Appearance,
    reason: str | None,
    location: str | None,
    values: Sequence[FieldValue] = (),
) -> bytes:
    cert = _load_cert(cert_der, "签名证书")
    chain = [_load_cert(der, "证书链") for der in chain_der]
    record = pki_service.get_certificate_by_fingerprint(
        session=session, fingerprint=hashlib.sha256(cert_der).hexdigest()
    )
    if record is None or record.kind not in ("person", "org"):
        raise errors.CertificateUntrusted()
    pki_service.check_usable(session=session, clock=runtime.clock, cert=record)  # revoked / expired / key missing
    signer = CustodySigner(
        custody=pki_service.custody_for(runtime), key_label=key_label, signing_cert=cert, other_certs=chain
    )
    font: CjkFont | None = None
    text = ""
    if isinstance(appearance, TextAppearance):
        font = cjk_font(runtime)
        text = stamp_text(
            signer_name=appearance.signer_name or _subject_label(cert),
            at=runtime.clock.now(),
            serial_hex=record.serial,
        )
    field_name, page, rect = placement
    cross_page = None
    if isinstance(appearance, SealAppearance) and appearance.cross_page:
        cross_page = CrossPageSeal(image_png=appearance.image_png, size=min(rect.width, rect.height))
    needs_font = any(v.kind != "checkbox" for v in values)
    widgets = value_widgets(values, font or cjk_font(runtime) if needs_font else None)
    return pades.sign(
        data,
        signer=signer,
        timestamper=pki_service.timestamper_for(runtime, session=session),
        style=stamp_style(appearance, text=text, cjk_font=font),
        field_name=field_name,
        page=page,
        rect=rect,
        reason=reason,
        location=location,
        bytes_reserved=pades.reserved_size(cert_der, chain_der, signer.signature_size),
        cross_page=cross_page,
        extra_widgets=tuple(widgets),
    )


def sign_pdf(
    *,
    runtime: Runtime,
    data: bytes,
    key_label: str,
    cert_der: bytes,
    chain_der: list[bytes],
    field_name: str,
    appearance: Appearance,
    page: int,
    rect: Rect,
    reason: str | None = None,
    location: str | None = None,
    session: Session | None = None,
    values: Sequence[FieldValue] = (),
) -> bytes:
    """Return `data` with one more incremental update: a visible PAdES B-T signature made in custody.

    `values` (text, dates, checkboxes the signer filled) are drawn at their rectangles as further
    widgets of the same signature, so they are signed with it and later changes show.
    Pass the caller's `session` when it holds a write transaction, so the certificate check and the
    in-process TSA use it (SQLite allows one writer at a time).
    """
    _check_size(data, runtime.settings.max_upload_bytes)
    if not 0 <= page < 100_000:
        raise errors.PlacementInvalid(f"页码 {page + 1} 无效", detail_en=f"Invalid page index {page}")
    if not _FIELD_NAME.fullmatch(field_name):
        # A period would make a hierarchical field name (ISO 32000-1 §12.7.3.2).
        raise InvalidInput(
            "签名域名称只能包含字母、数字、下划线和连字符",
            detail_en="Field names use letters, digits, _ and - only",
        )
    if len(reason or "") > _MAX_TEXT or len(location or "") > _MAX_TEXT:
        raise InvalidInput("签署原因或地点过长", detail_en=f"Reason and location have at most {_MAX_TEXT} characters")
    if len(values) > _MAX_VALUES:
        raise InvalidInput("填写项过多", detail_en=f"At most {_MAX_VALUES} filled values per signature")

    def _run(own: Session) -> bytes:
        return _sign(
            runtime=runtime,
            session=own,
            data=data,
            key_label=key_label,
            cert_der=cert_der,
            chain_der=chain_der,
            placement=(field_name, page, rect),
            appearance=appearance,
            reason=reason,
            location=location,
            values=values,
        )

    if session is not None:
        signed = _run(session)
    else:
        with runtime.transaction() as own:
            signed = _run(own)
    log.info("signing_pdf_signed", field=field_name, size=len(signed), added=len(signed) - len(data))
    return signed


def _ocsp_source(runtime: Runtime, session: Session) -> pades.OcspSource:
    """Return a function giving a fresh OCSP response for a signer certificate this CA issued."""

    def ocsp_for(cert: asn1_x509.Certificate) -> bytes | None:
        record = pki_service.get_certificate_by_fingerprint(session=session, fingerprint=cert.sha256.hex())
        if record is None:
            return None
        return pki_service.ocsp_response_for(session=session, clock=runtime.clock, cert_id=record.id)

    return ocsp_for


def complete_document(*, runtime: Runtime, data: bytes, session: Session | None = None) -> bytes:
    """Return `data` completed to PAdES B-LTA: validation data in the DSS plus a document time-stamp."""
    _check_size(data, runtime.settings.max_upload_bytes)

    def _run(own: Session) -> bytes:
        clock = runtime.clock
        roots = [asn1_x509.Certificate.load(pki_service.root_certificate_der(session=own))]
        others = [
            *(asn1_x509.Certificate.load(der) for der in pki_service.ca_chain(session=own)),
            asn1_x509.Certificate.load(pki_service.tsa_certificate_der(session=own)),
            asn1_x509.Certificate.load(pki_service.ocsp_certificate_der(session=own)),
        ]
        crls = [pki_service.crl_der(session=own, clock=clock, which=which) for which in ("root", "issuing")]
        return pades.complete(
            data,
            timestamper=pki_service.timestamper_for(runtime, session=own),
            trust_roots=roots,
            other_certs=others,
            crls=crls,
            at=clock.now(),
            ocsp_for=_ocsp_source(runtime, own),
        )

    if session is not None:
        completed = _run(session)
    else:
        with runtime.transaction() as own:
            completed = _run(own)
    log.info("signing_pdf_completed", size=len(completed), added=len(completed) - len(data))
    return completed


# --- validation -----------------------------------------------------------------------------


def read_trust_roots(path: Path) -> list[bytes]:
    """Return the certificates (DER) in a PEM bundle or a single DER file, e.g. `root.pem`."""
    try:
        raw = path.read_bytes()
        pem = b"-----BEGIN" in raw
        certs = x509.load_pem_x509_certificates(raw) if pem else [x509.load_der_x509_certificate(raw)]
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            "无法读取信任根证书文件",
            detail_en=f"Cannot read trust roots from {path.name}: {type(exc).__name__}",
        ) from exc
    return [cert.public_bytes(Encoding.DER) for cert in certs]


def trust_roots(*, runtime: Runtime, session: Session | None = None) -> list[bytes]:
    """Return the trust anchors (DER): this platform's root plus `settings.extra_trust_roots`."""
    if session is not None:
        roots = [pki_service.root_certificate_der(session=session)]
    else:
        with runtime.transaction() as own:
            roots = [pki_service.root_certificate_der(session=own)]
    for path in runtime.settings.extra_trust_roots:
        roots.extend(read_trust_roots(path))
    return roots


def validate_pdf(data: bytes, *, trust_roots: list[bytes]) -> ValidationReport:
    """Validate every signature and document time-stamp in `data` against `trust_roots` (DER)."""
    return validation.validate(data, trust_roots=trust_roots)
