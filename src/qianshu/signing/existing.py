"""Signatures already in an uploaded PDF: they must verify before we add ours (ISO 32000-1 §12.8.1).

Only integrity is required here (the signed bytes hash to the signed digest and the signature
value verifies with the embedded certificate); whether the signer is trusted is the relying
party's question, answered by `validate_pdf` with their own trust anchors.
"""

from __future__ import annotations

import hashlib

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from qianshu.signing.errors import PdfExistingSignatureInvalid

__all__ = ["check_existing_signatures", "embedded_signatures", "read_signature_fields"]


def read_signature_fields(reader: PdfFileReader) -> list[tuple[str, EmbeddedPdfSignature | None]]:
    """Return (field name, signature) for every filled signature field; None where the CMS is unreadable."""
    result: list[tuple[str, EmbeddedPdfSignature | None]] = []
    for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        try:
            emb = EmbeddedPdfSignature(reader, field_ref, name)
            _ = emb.signer_cert  # parsed eagerly so a bogus CMS fails here
        except Exception:  # any parse failure of hostile CMS bytes means "unreadable"
            result.append((str(name), None))
            continue
        result.append((str(name), emb))
    return result


def embedded_signatures(reader: PdfFileReader) -> list[EmbeddedPdfSignature]:
    """Return every filled signature field's signature, oldest revision first; refuse unreadable ones."""
    result = []
    for _name, emb in read_signature_fields(reader):
        if emb is None:
            raise PdfExistingSignatureInvalid(
                "PDF 中已有签名的数据无法解析", detail_en="An existing signature's CMS data cannot be parsed"
            )
        result.append(emb)
    return sorted(result, key=lambda e: e.signed_revision)


def _integrity(emb: EmbeddedPdfSignature) -> tuple[bool, bool]:
    """Return (digest matches, signature verifies) for a signature or document time-stamp."""
    if emb.sig_object_type != "/DocTimeStamp":
        return validate_sig_integrity(
            emb.signer_info, emb.signer_cert, expected_content_type="data", actual_digest=emb.compute_digest()
        )
    # RFC 3161 §2.4.2: the TSTInfo's messageImprint binds the document; the CMS signs the TSTInfo.
    eci = emb.signed_data["encap_content_info"]
    tst_info = eci["content"].parsed
    imprint = tst_info["message_imprint"]
    algo = imprint["hash_algorithm"]["algorithm"].native
    matches = imprint["hashed_message"].native == emb.compute_digest(algo)
    md_algo = emb.signer_info["digest_algorithm"]["algorithm"].native
    tst_digest = hashlib.new(md_algo, bytes(eci["content"])).digest()
    intact, valid = validate_sig_integrity(
        emb.signer_info, emb.signer_cert, expected_content_type="tst_info", actual_digest=tst_digest
    )
    return matches and intact, valid


def _later_changes_permitted(emb: EmbeddedPdfSignature) -> bool:
    """Tell whether what was appended after `emb` is allowed by it (pyHanko's difference analysis of
    the later revisions against its DocMDP level, ISO 32000-1 §12.8.2.2; unsigned tails fail)."""
    emb.compute_integrity_info()  # type: ignore[no-untyped-call]  # pyHanko leaves it untyped
    return emb.summarise_integrity_info()["docmdp_ok"] is not False


def check_existing_signatures(reader: PdfFileReader, *, later_changes: bool = False) -> None:
    """Raise PdfExistingSignatureInvalid unless every existing signature is intact and verifies.

    With `later_changes`, also require that each one permits the updates made after it (the upload
    gate does; at signing time the document has already passed it, and the analysis costs time).
    """
    for emb in embedded_signatures(reader):
        try:
            intact, valid = _integrity(emb)
            permitted = _later_changes_permitted(emb) if later_changes and intact and valid else True
        except Exception as exc:
            raise PdfExistingSignatureInvalid(
                "PDF 中已有签名无法校验",
                detail_en=f"An existing signature cannot be checked ({type(exc).__name__})",
            ) from exc
        if not (intact and valid):
            raise PdfExistingSignatureInvalid(
                "PDF 中已有签名校验失败（文档在签名后被改动或签名已损坏）",
                detail_en="An existing signature does not verify: the document changed or is damaged",
            )
        if not permitted:
            raise PdfExistingSignatureInvalid(
                "PDF 在已有签名之后被做了该签名不允许的修改",
                detail_en="The PDF was changed after an existing signature in a way it does not allow",
            )
