"""Uploaded images (face photos, document scans): checked, bounded, re-encoded without metadata.

Only JPEG (ISO/IEC 10918-1, SOI marker FF D8 FF) and PNG (PNG spec §5.2 signature) are taken.
Each image is decoded with a pixel bound (decompression bombs), turned upright per its EXIF
orientation and saved again without EXIF, so no camera data or GPS position is kept or shared.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from qianshu.identity.errors import ImageTooLarge, InvalidImage

__all__ = ["CheckedImage", "check_image"]

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MAX_PIXELS = 40_000_000
_MIN_SIDE = 100


@dataclass(frozen=True)
class CheckedImage:
    """An image that decoded cleanly, re-encoded without metadata."""

    content_type: str  # image/jpeg | image/png
    data: bytes
    width: int
    height: int


def _invalid(reason: str, zh: str, en: str) -> InvalidImage:
    return InvalidImage(zh, detail_en=en, reason=reason)


def check_image(data: bytes, *, max_bytes: int) -> CheckedImage:
    """Return the upload as a clean JPEG or PNG, or raise InvalidImage / ImageTooLarge."""
    mb = max_bytes / (1024 * 1024)
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"图片超过 {mb:g} MB 的上限，请压缩或重新拍摄后再上传",
            detail_en=f"The image is over the {mb:g} MB limit; compress it or take it again",
        )
    if not data:
        raise _invalid("empty", "请选择要上传的图片", "Choose an image to upload")
    if data.startswith(_JPEG_MAGIC):
        fmt, ctype = "JPEG", "image/jpeg"
    elif data.startswith(_PNG_MAGIC):
        fmt, ctype = "PNG", "image/png"
    else:
        raise _invalid("format", "只支持 JPG 或 PNG 格式的图片", "Only JPG or PNG images are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            if img.format != fmt:
                raise _invalid(
                    "format", "只支持 JPG 或 PNG 格式的图片", "Only JPG or PNG images are accepted"
                )
            if img.width * img.height > _MAX_PIXELS:
                raise _invalid(
                    "pixels", "图片像素过多，请缩小后上传", "The image has too many pixels; shrink it"
                )
            img.load()
            img = ImageOps.exif_transpose(img)
    except InvalidImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _invalid(
            "decode", "图片已损坏或无法读取，请重新拍摄", "The image is damaged; take it again"
        ) from None
    if min(img.width, img.height) < _MIN_SIDE:
        raise _invalid(
            "too_small",
            f"图片太小（短边至少 {_MIN_SIDE} 像素），请拍摄更清晰的照片",
            f"The image is too small (at least {_MIN_SIDE} pixels on the short side)",
        )
    out = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(out, format="JPEG", quality=90)
    else:
        img.save(out, format="PNG", optimize=True)
    clean = out.getvalue()
    if len(clean) > max_bytes:
        raise ImageTooLarge(
            f"图片超过 {mb:g} MB 的上限，请压缩或重新拍摄后再上传",
            detail_en=f"The image is over the {mb:g} MB limit; compress it or take it again",
        )
    return CheckedImage(content_type=ctype, data=clean, width=img.width, height=img.height)
