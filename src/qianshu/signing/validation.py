"""Validate the signatures in a PDF and say which PAdES level each reaches.

Per signature, in the order of ETSI EN 319 102-1 §5: (1) format and integrity (the /ByteRange
digest and the signature value), (2) the signature time-stamp (§5.4, RFC 3161), (3) the X.509
chain to a trust anchor as of the time-stamp (§5.2.6, RFC 5280 §6), (4) revocation status at that
time from the data in the document, (5) what changed after the signed revision (pyHanko's
difference analysis against DocMDP, ISO 32000-1 §12.8.2.2), (6) the PAdES baseline level
(ETSI EN 319 142-1 §6): B-B, B-T with a time-stamp, B-LT with validation data in the DSS, B-LTA
with a document time-stamp over that DSS.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError, PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SignedDataCerts
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import extract_certs_for_validation, extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    PathBuildingError,
    PathValidationError,
    RevokedError,
)

from qianshu.signing.existing import read_signature_fields
from qianshu.signing.inspection import get, open_pdf, parse_guard, with_lenient_retry
from qianshu.signing.pades import run_async, signature_timestamp_time
from qianshu.signing.schemas import (
    CertificateInfo,
    PadesLevel,
    RevocationStatus,
    SignatureReport,
    TimestampReport,
    ValidationReport,
)

__all__ = ["validate"]

_PADES = "/ETSI.CAdES.detached"


def _name_part(name: asn1_x509.Name, key: str) -> str | None:
    value = name.native.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _info(cert: asn1_x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=cert.subject.human_friendly,
        issuer=cert.issuer.human_friendly,
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
        sha256=cert.sha256.hex(),
    )


def _read_dss(handler: PdfHandler) -> DocumentSecurityStore | None:
    try:
        return DocumentSecurityStore.read_dss(handler)
    except NoDSSFoundError:
        return None


def _context(
    *,
    roots: list[asn1_x509.Certificate],
    dss: DocumentSecurityStore | None,
    certs: list[asn1_x509.Certificate],
    moment: datetime | None,
    hard_fail: bool,
) -> ValidationContext:
    kwargs: dict[str, object] = {
        "trust_roots": roots,
        "other_certs": certs,
        "allow_fetching": False,
        "revocation_mode": "hard-fail" if hard_fail else "soft-fail",
        "moment": moment,
        "retroactive_revinfo": True,  # revocation data gathered after the signing time may vouch for it
        "crls": [],
        "ocsps": [],
    }
    if dss is not None:
        return dss.as_validation_context(kwargs)
    return ValidationContext(**kwargs)  # type: ignore[arg-type]  # kwargs typed loosely above


def _gen_time(tst_signed_data: object) -> datetime:
    """Return a time-stamp token's genTime (RFC 3161 §2.4.2)."""
    gen_time: datetime = tst_signed_data["encap_content_info"]["content"].parsed["gen_time"].native  # type: ignore[index]  # asn1crypto
    return gen_time


async def _validates(cert: asn1_x509.Certificate, context: ValidationContext, raise_revoked: bool = False) -> bool:
    try:
        await CertificateValidator(cert, validation_context=context).async_validate_usage(set())  # type: ignore[no-untyped-call]  # untyped
    except RevokedError:
        if raise_revoked:
            raise
        return False
    except (PathBuildingError, PathValidationError):
        return False
    return True


async def _long_term_ok(
    emb: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    roots: list[asn1_x509.Certificate],
    at: datetime | None,
) -> bool:
    """Tell whether the DSS alone lets the signer's and the TSA's chains validate with revocation (B-LT)."""
    if dss is None:
        return False
    extra = list(emb.other_embedded_certs)
    context = _context(roots=roots, dss=dss, certs=extra, moment=at, hard_fail=True)
    if not await _validates(emb.signer_cert, context):
        return False
    for tst in extract_tst_data_iter(emb.signer_info, signed=False):
        info: SignedDataCerts = extract_certs_for_validation(tst)
        tsa_context = _context(
            roots=roots, dss=dss, certs=[*extra, *info.other_certs], moment=_gen_time(tst), hard_fail=True
        )
        if not await _validates(info.signer_cert, tsa_context):
            return False
    return True


def _has_revinfo(cert: asn1_x509.Certificate, context: ValidationContext) -> bool:
    """Tell whether the context holds a CRL from the cert's issuer or an OCSP response about it."""
    if any(crl["tbs_cert_list"]["issuer"] == cert.issuer for crl in context.crls):
        return True
    for response in context.ocsps:
        basic = response.basic_ocsp_response
        if basic is None:
            continue
        for single in basic["tbs_response_data"]["responses"]:
            if single["cert_id"]["serial_number"].native == cert.serial_number:
                return True
    return False


async def _revocation(
    status: PdfSignatureStatus, context: ValidationContext
) -> tuple[RevocationStatus, datetime | None]:
    if status.revoked:
        details = status.revocation_details
        return RevocationStatus.REVOKED, details.revocation_date if details else None
    if not status.trusted or not _has_revinfo(status.signing_cert, context):
        return RevocationStatus.UNKNOWN, None
    try:
        good = await _validates(status.signing_cert, context, raise_revoked=True)
    except RevokedError:
        return RevocationStatus.REVOKED, None
    return (RevocationStatus.GOOD if good else RevocationStatus.UNKNOWN), None


def _indication(indic: object) -> str:
    """Return an AdES sub-indication's name (ETSI EN 319 102-1 §5.1.3), e.g. NO_CERTIFICATE_CHAIN_FOUND."""
    return str(getattr(indic, "name", indic))


def _modification(status: object) -> str:
    level = getattr(status, "modification_level", None)
    if isinstance(level, ModificationLevel):
        return level.name.lower()
    return "none"


async def _pyhanko_status(
    emb: EmbeddedPdfSignature, context: ValidationContext, ts_context: ValidationContext
) -> tuple[PdfSignatureStatus, bool]:
    """Validate with pyHanko; if its difference analysis cannot map the revisions, validate the
    signature alone and say so (the bool), rather than lose the whole verdict."""
    try:
        status = await async_validate_pdf_signature(
            emb, signer_validation_context=context, ts_validation_context=ts_context
        )
        return status, False
    except PdfStrictReadError:
        raise
    except PdfReadError:
        status = await async_validate_pdf_signature(
            emb, signer_validation_context=context, ts_validation_context=ts_context, skip_diff=True
        )
        return status, True


async def _signature_report(
    reader: PdfFileReader,
    emb: EmbeddedPdfSignature,
    roots: list[asn1_x509.Certificate],
    doc_timestamps: list[tuple[EmbeddedPdfSignature, TimestampReport]],
    dss: DocumentSecurityStore | None,
) -> SignatureReport:
    embedded = list(emb.other_embedded_certs)
    claimed_ts = signature_timestamp_time(emb)
    context = _context(roots=roots, dss=dss, certs=embedded, moment=claimed_ts, hard_fail=False)
    ts_context = _context(roots=roots, dss=dss, certs=embedded, moment=claimed_ts, hard_fail=False)
    status, diff_failed = await _pyhanko_status(emb, context, ts_context)
    ts = status.timestamp_validity
    ts_ok = ts is not None and ts.intact and ts.valid and ts.trusted
    if claimed_ts is not None and not ts_ok:  # an untrusted time-stamp proves no time: validate as of now
        context = _context(roots=roots, dss=dss, certs=embedded, moment=None, hard_fail=False)
        status, diff_failed = await _pyhanko_status(emb, context, ts_context)
    best_time = claimed_ts if ts_ok else None
    revocation, revoked_at = await _revocation(
        status, _context(roots=roots, dss=dss, certs=embedded, moment=best_time, hard_fail=True)
    )

    path = status.validation_path
    chain = (
        [_info(c) for c in reversed(list(path))]
        if path is not None
        else [_info(status.signing_cert), *(_info(c) for c in embedded if c != status.signing_cert)]
    )
    subfilter = str(get(emb.sig_object, "/SubFilter") or "")
    integrity = status.intact and status.valid
    covered_by_doc_ts = [r for e, r in doc_timestamps if r.ok and e.signed_revision > emb.signed_revision]

    level: PadesLevel | None = None
    if subfilter == _PADES and integrity:
        level = PadesLevel.B_B
        if ts_ok or covered_by_doc_ts:
            level = PadesLevel.B_T
            if await _long_term_ok(emb, dss, roots, best_time):
                level = PadesLevel.B_LT
                for ts_emb, ts_report in doc_timestamps:
                    if not ts_report.ok or ts_emb.signed_revision <= emb.signed_revision:
                        continue
                    covered_dss = _read_dss(reader.get_historical_resolver(ts_emb.signed_revision))
                    if await _long_term_ok(emb, covered_dss, roots, best_time):
                        level = PadesLevel.B_LTA
                        break

    problems: list[str] = []
    if not status.intact:
        problems.append("签名后的文档内容与签名时不一致 / the signed bytes were altered")
    if not status.valid:
        problems.append("签名值无效 / the signature value does not verify")
    if not status.trusted:
        indic = status.trust_problem_indic
        problems.append(f"证书不受信任 / certificate not trusted ({_indication(indic)})")
    if revocation == RevocationStatus.REVOKED:
        problems.append("签名时证书已吊销 / certificate revoked at signing time")
    if claimed_ts is not None and not ts_ok:
        problems.append("签名时间戳无效 / the signature time-stamp does not verify")
    if diff_failed:
        problems.append("签名后的修改无法分析 / the changes after signing cannot be analysed")
    elif status.docmdp_ok is False:
        problems.append("签名后有不允许的修改 / changes after signing that the signature does not permit")
    coverage = status.coverage
    return SignatureReport(
        field_name=str(emb.field_name),
        signer_name=_name_part(status.signing_cert.subject, "common_name"),
        signer_org=_name_part(status.signing_cert.subject, "organization_name"),
        chain=chain,
        subfilter=subfilter.lstrip("/"),
        signing_time=status.signer_reported_dt,
        timestamp_time=ts.timestamp if ts is not None else None,
        timestamp_valid=ts_ok if ts is not None else None,
        intact=status.intact,
        signature_valid=status.valid,
        trusted=status.trusted,
        trust_problem=_indication(status.trust_problem_indic) if status.trust_problem_indic else None,
        revocation=revocation,
        revoked_at=revoked_at,
        covers_whole_file=coverage == SignatureCoverageLevel.ENTIRE_FILE,
        modified_after=coverage != SignatureCoverageLevel.ENTIRE_FILE,
        modification_level="other" if diff_failed else _modification(status),
        modifications_permitted=not diff_failed and status.docmdp_ok is not False,
        pades_level=level,
        ok=not problems,
        problems=problems,
    )


async def _timestamp_report(
    emb: EmbeddedPdfSignature, roots: list[asn1_x509.Certificate], dss: DocumentSecurityStore | None
) -> TimestampReport:
    # Judged as of its own genTime, like the signature time-stamps it protects (EN 319 102-1 §5.6.2.4).
    context = _context(
        roots=roots,
        dss=dss,
        certs=list(emb.other_embedded_certs),
        moment=_gen_time(emb.signed_data),
        hard_fail=False,
    )
    status = await async_validate_pdf_timestamp(emb, validation_context=context)
    ok = status.intact and status.valid and status.trusted and status.docmdp_ok is not False
    return TimestampReport(
        field_name=str(emb.field_name),
        timestamp_time=status.timestamp,
        tsa=status.signing_cert.subject.human_friendly,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        modification_level=_modification(status),
        ok=ok,
    )


def _unreadable(name: str, reason: str) -> SignatureReport:
    return SignatureReport(
        field_name=name,
        signer_name=None,
        signer_org=None,
        chain=[],
        subfilter="",
        signing_time=None,
        timestamp_time=None,
        timestamp_valid=None,
        intact=False,
        signature_valid=False,
        trusted=False,
        trust_problem="FORMAT_FAILURE",
        revocation=RevocationStatus.UNKNOWN,
        revoked_at=None,
        covers_whole_file=False,
        modified_after=True,
        modification_level="other",
        modifications_permitted=False,
        pades_level=None,
        ok=False,
        problems=[f"签名数据无法解析 / the signature cannot be read ({reason})"],
    )


async def _validate(reader: PdfFileReader, roots: list[asn1_x509.Certificate], strict: bool) -> ValidationReport:
    fields = read_signature_fields(reader)
    dss = _read_dss(reader)
    readable = sorted((emb for _name, emb in fields if emb is not None), key=lambda e: e.signed_revision)
    doc_timestamps: list[tuple[EmbeddedPdfSignature, TimestampReport]] = []
    signatures = [_unreadable(name, "CMS") for name, emb in fields if emb is None]
    for emb in readable:
        if emb.sig_object_type == "/DocTimeStamp":
            try:
                doc_timestamps.append((emb, await _timestamp_report(emb, roots, dss)))
            except PdfStrictReadError:
                if strict:
                    raise  # parse_guard turns it into a lenient retry of the whole validation
                signatures.append(_unreadable(str(emb.field_name), "PdfStrictReadError"))
            except Exception as exc:  # hostile CMS/PDF bytes: report the time-stamp as failed, keep going
                signatures.append(_unreadable(str(emb.field_name), type(exc).__name__))
    for emb in readable:
        if emb.sig_object_type != "/DocTimeStamp":
            try:
                signatures.append(await _signature_report(reader, emb, roots, doc_timestamps, dss))
            except PdfStrictReadError:
                if strict:
                    raise  # parse_guard turns it into a lenient retry of the whole validation
                signatures.append(_unreadable(str(emb.field_name), "PdfStrictReadError"))
            except Exception as exc:  # hostile CMS/PDF bytes: report the signature as failed, keep going
                signatures.append(_unreadable(str(emb.field_name), type(exc).__name__))
    timestamps = [report for _emb, report in doc_timestamps]
    ok = bool(signatures) and all(s.ok for s in signatures) and all(t.ok for t in timestamps)
    return ValidationReport(signatures=signatures, document_timestamps=timestamps, ok=ok)


def validate(data: bytes, *, trust_roots: list[bytes]) -> ValidationReport:
    """Validate every signature and document time-stamp in `data` against `trust_roots` (DER)."""
    roots = [asn1_x509.Certificate.load(der) for der in trust_roots]

    def attempt(strict: bool) -> ValidationReport:
        reader = open_pdf(data, for_signing=False, strict=strict)
        with parse_guard():
            report = run_async(_validate(reader, roots, strict))
        return report

    return with_lenient_retry(attempt)
