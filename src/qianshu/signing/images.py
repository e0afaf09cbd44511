"""Seal and handwriting images: checked, bounded PNG decoding and transparent backgrounds."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from qianshu.signing.errors import AppearanceImageInvalid

__all__ = ["load_png_rgba", "prepare_handwriting_png"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # PNG spec §5.2 signature
_MAX_SIDE = 4000
_MAX_PIXELS = 8_000_000
_HANDWRITING_MAX_WIDTH = 1200
_INK_THRESHOLD = 24  # alpha below this counts as background when cropping


def load_png_rgba(data: bytes) -> Image.Image:
    """Decode a PNG into RGBA, refusing non-PNGs and oversized (decompression-bomb) images."""
    if not data.startswith(_PNG_MAGIC):
        raise AppearanceImageInvalid("签章图片必须是 PNG 格式", detail_en="The image must be a PNG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width > _MAX_SIDE or img.height > _MAX_SIDE or img.width * img.height > _MAX_PIXELS:
                raise AppearanceImageInvalid(
                    f"签章图片尺寸过大（最大 {_MAX_SIDE}×{_MAX_SIDE} 像素）",
                    detail_en=f"The image is too large (at most {_MAX_SIDE}×{_MAX_SIDE} pixels)",
                )
            img.load()
    except AppearanceImageInvalid:
        raise
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise AppearanceImageInvalid(
            "无法读取签章图片", detail_en=f"The PNG cannot be decoded: {type(exc).__name__}"
        ) from exc
    return img.convert("RGBA")


def prepare_handwriting_png(data: bytes) -> bytes:
    """Return the handwriting as an RGBA PNG: background transparent, cropped to the ink, bounded width.

    Images without transparency (a photo or scan on white paper) get an alpha channel from the ink's
    darkness, so the signature does not hide the contract text beneath it.
    """
    img = load_png_rgba(data)
    alpha = img.getchannel("A")
    if alpha.getextrema()[0] == 255:  # fully opaque: derive alpha from darkness
        gray = ImageOps.grayscale(img)
        alpha = ImageOps.invert(gray).point(lambda v: 0 if v < _INK_THRESHOLD else min(255, int(v * 1.4)))
        img.putalpha(alpha)
    bbox = alpha.point(lambda v: 255 if v >= _INK_THRESHOLD else 0).getbbox()
    if bbox is None:
        raise AppearanceImageInvalid("手写签名图片是空白的", detail_en="The handwriting image is blank")
    margin = 8
    left, top, right, bottom = bbox
    img = img.crop(
        (
            max(0, left - margin),
            max(0, top - margin),
            min(img.width, right + margin),
            min(img.height, bottom + margin),
        )
    )
    if img.width > _HANDWRITING_MAX_WIDTH:
        ratio = _HANDWRITING_MAX_WIDTH / img.width
        img = img.resize((_HANDWRITING_MAX_WIDTH, max(1, int(img.height * ratio))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
