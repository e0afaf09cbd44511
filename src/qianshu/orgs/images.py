"""Checks on uploaded images: business licences and authorisation letters (JPEG/PNG) and seals (PNG).

Every upload is decoded with bounded dimensions (no decompression bombs) and re-encoded, so the
stored image carries no metadata (EXIF location, camera serials) and no trailing payload.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from qianshu.orgs.errors import InvalidImage, UploadTooLarge

__all__ = ["CheckedImage", "check_document_image", "check_seal_png", "png_size"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # PNG (ISO/IEC 15948) §5.2 signature
_JPEG_MAGIC = b"\xff\xd8\xff"  # JPEG (ITU-T T.81) SOI marker followed by a marker
_MAX_SIDE = 8000
_MAX_PIXELS = 40_000_000
_DOC_MIN_SIDE = 300  # a licence photo smaller than this cannot be read
_SEAL_MIN_SIDE = 100
_SEAL_MAX_SIDE = 2000
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class CheckedImage:
    """A re-encoded image ready to be sealed in the vault."""

    data: bytes
    content_type: str
    width: int
    height: int


def _too_large(limit: int) -> UploadTooLarge:
    mb = limit / (1024 * 1024)
    return UploadTooLarge(f"文件超过 {mb:g} MB 的上限", detail_en=f"The file exceeds the {mb:g} MB limit")


def _decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width > _MAX_SIDE or img.height > _MAX_SIDE or img.width * img.height > _MAX_PIXELS:
                raise InvalidImage(
                    f"图片尺寸过大（最大 {_MAX_SIDE}×{_MAX_SIDE} 像素）",
                    detail_en=f"The image is too large (at most {_MAX_SIDE}×{_MAX_SIDE} pixels)",
                    reason="dimensions",
                )
            img.load()
    except InvalidImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(
            "无法读取图片，文件可能已损坏", detail_en="The image cannot be decoded", reason="corrupt"
        ) from None
    return img


def check_document_image(data: bytes, *, max_bytes: int) -> CheckedImage:
    """Accept a JPEG or PNG photo/scan of a document; return it re-encoded without metadata."""
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if not data:
        raise InvalidImage("文件为空", detail_en="The file is empty", reason="empty")
    if data.startswith(_JPEG_MAGIC):
        fmt = "JPEG"
    elif data.startswith(_PNG_MAGIC):
        fmt = "PNG"
    else:
        raise InvalidImage("请上传 JPEG 或 PNG 图片", detail_en="Upload a JPEG or PNG image", reason="format")
    img = _decode(data)
    if img.format != fmt:
        raise InvalidImage(
            "图片内容与格式不符", detail_en="The image content does not match its format", reason="format"
        )
    img = ImageOps.exif_transpose(img)
    if min(img.width, img.height) < _DOC_MIN_SIDE:
        raise InvalidImage(
            f"图片太小，短边至少 {_DOC_MIN_SIDE} 像素",
            detail_en=f"The image is too small (at least {_DOC_MIN_SIDE} pixels on the short side)",
            reason="dimensions",
        )
    out = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(out, format="JPEG", quality=_JPEG_QUALITY)
        content_type = "image/jpeg"
    else:
        mode = "RGBA" if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info else "RGB"
        img.convert(mode).save(out, format="PNG", optimize=True)
        content_type = "image/png"
    return CheckedImage(out.getvalue(), content_type, img.width, img.height)


def check_seal_png(data: bytes, *, max_bytes: int) -> CheckedImage:
    """Accept an uploaded seal: a PNG with an alpha channel that is partly transparent, sensibly sized."""
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if not data.startswith(_PNG_MAGIC):
        raise InvalidImage("印章图片必须是 PNG 格式", detail_en="A seal image must be a PNG", reason="format")
    img = _decode(data)
    if img.format != "PNG":
        raise InvalidImage("印章图片必须是 PNG 格式", detail_en="A seal image must be a PNG", reason="format")
    if not (_SEAL_MIN_SIDE <= img.width <= _SEAL_MAX_SIDE and _SEAL_MIN_SIDE <= img.height <= _SEAL_MAX_SIDE):
        raise InvalidImage(
            f"印章图片边长须在 {_SEAL_MIN_SIDE} 至 {_SEAL_MAX_SIDE} 像素之间",
            detail_en=f"Each side must be {_SEAL_MIN_SIDE} to {_SEAL_MAX_SIDE} pixels",
            reason="dimensions",
        )
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if not has_alpha:
        raise InvalidImage(
            "印章图片须为透明背景的 PNG",
            detail_en="The seal PNG must have a transparent background",
            reason="no_alpha",
        )
    rgba = img.convert("RGBA")
    low, high = rgba.getchannel("A").getextrema()
    if low == 255:
        raise InvalidImage(
            "印章图片须为透明背景的 PNG",
            detail_en="The seal PNG must have a transparent background",
            reason="no_alpha",
        )
    if high == 0:
        raise InvalidImage("印章图片是空白的", detail_en="The seal image is blank", reason="blank")
    out = io.BytesIO()
    rgba.save(out, format="PNG", optimize=True)
    return CheckedImage(out.getvalue(), "image/png", rgba.width, rgba.height)


def png_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) of a PNG from its IHDR chunk (PNG §11.2.2)."""
    if not data.startswith(_PNG_MAGIC) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
