"""Errors of the signing domain: PDFs we refuse, placements that do not fit, images we cannot use.

Certificate and key problems (revoked, expired, key missing) and time-stamp outages reuse the
PKI domain's errors (`qianshu.pki.errors`), so a client sees one slug per cause.
"""

from __future__ import annotations

from qianshu.core.errors import Conflict, InvalidInput, PayloadTooLarge, ServiceUnavailable

__all__ = [
    "AppearanceImageInvalid",
    "CertificateUntrusted",
    "CjkFontUnavailable",
    "NothingToComplete",
    "PdfActiveContent",
    "PdfCorrupt",
    "PdfEncrypted",
    "PdfExistingSignatureInvalid",
    "PdfLocked",
    "PdfNotPdf",
    "PdfTooComplex",
    "PdfTooLarge",
    "PdfUnsupportedStructure",
    "PlacementInvalid",
    "SignatureFieldTaken",
]


class PdfNotPdf(InvalidInput):
    """The file does not start like a PDF (ISO 32000-1 §7.5.2 header)."""

    slug = "pdf-not-pdf"
    title = "文件不是 PDF 文档"
    title_en = "The file is not a PDF document"


class PdfCorrupt(InvalidInput):
    """The PDF is truncated or its structure (xref, trailer, objects) cannot be read."""

    slug = "pdf-corrupt"
    title = "PDF 文件已损坏或不完整"
    title_en = "The PDF is corrupt or truncated"


class PdfEncrypted(InvalidInput):
    """The PDF is encrypted (ISO 32000-1 §7.6); we sign only unencrypted documents."""

    slug = "pdf-encrypted"
    title = "PDF 文件已加密，请解除加密后再上传"
    title_en = "The PDF is encrypted; remove the encryption and upload it again"


class PdfActiveContent(InvalidInput):
    """The PDF carries JavaScript, launch actions or an XFA form: what it shows may change."""

    slug = "pdf-active-content"
    title = "PDF 含有脚本、启动动作或 XFA 表单等动态内容，无法签署"
    title_en = "The PDF contains JavaScript, launch actions or XFA forms and cannot be signed"


class PdfUnsupportedStructure(InvalidInput):
    """The PDF uses a structure readers may disagree on (hybrid cross-reference sections)."""

    slug = "pdf-unsupported-structure"
    title = "PDF 的文件结构不受支持，请另存为标准 PDF 后再上传"
    title_en = "The PDF's file structure is not supported; save it as a standard PDF and retry"


class PdfTooComplex(InvalidInput):
    """Reading the PDF exceeded the time or memory budget (decompression bomb, cycles)."""

    slug = "pdf-too-complex"
    title = "PDF 文件过于复杂，无法在限定的时间或内存内处理"
    title_en = "The PDF is too complex to process within the time or memory limit"


class PdfTooLarge(PayloadTooLarge):
    """The PDF is over the configured size limit (QIANSHU_MAX_UPLOAD_BYTES)."""

    slug = "pdf-too-large"
    title = "PDF 文件超过大小上限"
    title_en = "The PDF exceeds the size limit"


class PdfLocked(Conflict):
    """A certification signature (DocMDP, ISO 32000-1 §12.8.2.2) forbids further signatures."""

    slug = "pdf-locked"
    title = "该 PDF 的认证签名禁止再添加签名"
    title_en = "The PDF's certification signature forbids further signatures"


class PdfExistingSignatureInvalid(Conflict):
    """A signature already in the PDF does not verify; signing over it would hide the damage."""

    slug = "pdf-existing-signature-invalid"
    title = "PDF 中已有的签名无法通过校验，不能继续签署"
    title_en = "A signature already in the PDF does not verify; the document cannot be signed"


class SignatureFieldTaken(Conflict):
    """The signature field name is already used by a filled signature."""

    slug = "signature-field-taken"
    title = "签名域已被占用"
    title_en = "The signature field is already signed"


class PlacementInvalid(InvalidInput):
    """The page or rectangle for the visible signature does not fit the document."""

    slug = "signature-placement-invalid"
    title = "签名位置无效"
    title_en = "Invalid signature placement"


class AppearanceImageInvalid(InvalidInput):
    """The seal or handwriting image is not a usable PNG."""

    slug = "appearance-image-invalid"
    title = "签章图片无效，请上传 PNG 图片"
    title_en = "The seal or handwriting image is not a usable PNG"


class CjkFontUnavailable(ServiceUnavailable):
    """The CJK font for text stamps is not installed (fonts-noto-cjk, QIANSHU_CJK_FONT_TTC)."""

    slug = "cjk-font-unavailable"
    title = "缺少中文字体，无法生成文字签章"
    title_en = "The CJK font for text stamps is not installed"


class CertificateUntrusted(Conflict):
    """The certificate was not issued by this platform's CA, so we do not sign with it."""

    slug = "certificate-untrusted"
    title = "签名证书不是本平台签发的有效证书"
    title_en = "The signing certificate was not issued by this platform"


class NothingToComplete(Conflict):
    """The document carries no signature, so there is nothing to add validation data for."""

    slug = "nothing-to-complete"
    title = "文档尚无签名，无法补充长期验证数据"
    title_en = "The document has no signature to complete"
